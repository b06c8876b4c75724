"""Reuse-factor validity, checked before conversion and read back after it.

hls4ml (1.3.0) replaces an invalid ``ReuseFactor`` by the closest valid one and only prints a WARNING
(``fpga_backend.py::set_closest_reuse_factor``). Here an invalid value is an error that lists the valid ones.
The rule reproduced from ``FPGABackend._validate_reuse_factor`` for a layer with ``n_in`` inputs per product
and ``n_out`` outputs (Dense: in/out features; Conv: ``in_channels * prod(kernel)`` and ``out_channels``)::

    multiplier_limit = ceil(n_in * n_out / min(n_in, rf))
    valid = (multiplier_limit % n_out == 0 or rf >= n_in)
            and (rf % n_in == 0 or rf < n_in)
            and (n_in * n_out) % rf == 0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from cost_models import LayerGeometry
from csq_hw.errors import UserError

__all__ = ["is_valid_reuse_factor", "valid_reuse_factors", "mult_size", "check_reuse_factor", "check_effective"]


def is_valid_reuse_factor(n_in: int, n_out: int, rf: int) -> bool:
    """hls4ml's validity rule (see the module docstring)."""
    if rf < 1:
        return False
    multiplier_limit = math.ceil((n_in * n_out) / min(n_in, rf))
    ok = (multiplier_limit % n_out == 0) or rf >= n_in
    ok = ok and (rf % n_in == 0 or rf < n_in)
    return ok and (n_in * n_out) % rf == 0


def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """All valid reuse factors, 1 .. n_in * n_out."""
    return [rf for rf in range(1, n_in * n_out + 1) if is_valid_reuse_factor(n_in, n_out, rf)]


def mult_size(geom: LayerGeometry) -> tuple[int, int]:
    """(n_in, n_out) of one layer's multiplication as hls4ml counts it."""
    return geom.fan_in, geom.out_channels


def _short(values: Iterable[int], limit: int = 24) -> str:
    vals = list(values)
    text = ",".join(map(str, vals[:limit]))
    return text + (f",... ({len(vals)} in all)" if len(vals) > limit else "")


def check_reuse_factor(geometry: Sequence[LayerGeometry], rf: int) -> None:
    """Raise :class:`UserError` naming the layer and the valid values if ``rf`` is invalid for any layer."""
    if rf < 1:
        raise UserError(f"reuse factor {rf} is invalid; it must be a positive integer")
    bad = [(g, mult_size(g)) for g in geometry if not is_valid_reuse_factor(*mult_size(g), rf)]
    if bad:
        g, (n_in, n_out) = bad[0]
        common = set.intersection(*(set(valid_reuse_factors(*mult_size(x))) for x in geometry))
        raise UserError(
            f"reuse factor {rf} is invalid for layer {g.name!r} (n_in={n_in}, n_out={n_out}; valid: "
            f"{_short(valid_reuse_factors(n_in, n_out))}); valid for every layer: {_short(sorted(common))}"
        )


def check_effective(hls_model: Any, requested: dict[str, int]) -> dict[str, int]:
    """Read the reuse factors back from a converted hls4ml model; any silent replacement is an error.

    Args:
        hls_model: an ``hls4ml`` ModelGraph.
        requested: ``{hls4ml layer name: requested reuse factor}``.

    Returns:
        ``{layer name: effective reuse factor}`` for the requested layers that survived conversion.
    """
    effective: dict[str, int] = {}
    for layer in hls_model.get_layers():
        if layer.name not in requested:
            continue
        rf = layer.get_attr("reuse_factor")
        if rf is not None and int(rf) != requested[layer.name]:
            raise UserError(
                f"hls4ml replaced reuse factor {requested[layer.name]} by {rf} in layer {layer.name!r} "
                f"({layer.class_name}); choose a reuse factor valid for this backend and strategy"
            )
        effective[layer.name] = int(rf) if rf is not None else requested[layer.name]
    return effective
