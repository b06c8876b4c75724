"""Reuse-factor validity, asked of hls4ml before conversion and read back after it.

hls4ml (1.3.0) replaces an invalid ``ReuseFactor`` by the closest valid one and only prints a WARNING
(``FPGABackend.set_closest_reuse_factor``). Here an invalid value is an error that lists the valid ones. The valid
values come from hls4ml itself, ``get_backend(name).get_valid_reuse_factors(n_in, n_out)``, so the check follows
hls4ml when its rule changes. ``n_in``/``n_out`` are the layer's multiplication as hls4ml counts it
(``get_layer_mult_size``): Dense: in/out features; Conv: ``in_channels * prod(kernel)`` and ``out_channels``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from cost_models import LayerGeometry
from csq_hw.errors import UserError

__all__ = ["valid_reuse_factors", "mult_size", "check_reuse_factors", "check_effective"]


@lru_cache(maxsize=256)
def valid_reuse_factors(n_in: int, n_out: int, backend: str = "Vitis") -> tuple[int, ...]:
    """The reuse factors ``backend``'s hls4ml accepts for an ``n_in`` x ``n_out`` multiplication, ascending."""
    from .hls4ml_handlers import hls4ml

    return tuple(hls4ml.backends.get_backend(backend).get_valid_reuse_factors(n_in, n_out))


def mult_size(geom: LayerGeometry) -> tuple[int, int]:
    """(n_in, n_out) of one layer's multiplication as hls4ml counts it."""
    return geom.fan_in, geom.out_channels


def _short(values: Iterable[int], limit: int = 24) -> str:
    vals = list(values)
    text = ",".join(map(str, vals[:limit]))
    return text + (f",... ({len(vals)} in all)" if len(vals) > limit else "")


def check_reuse_factors(geometry: Sequence[LayerGeometry], requested: Mapping[str, int], backend: str) -> None:
    """Raise :class:`UserError` naming the first layer whose requested reuse factor ``backend`` rejects.

    Args:
        geometry: the Linear/Conv layers (run layer names).
        requested: ``{run layer name: reuse factor}`` (a layer not named is not checked).
        backend: hls4ml backend name.
    """
    for g in geometry:
        rf = requested.get(g.name)
        if rf is None:
            continue
        valid = valid_reuse_factors(*mult_size(g), backend)
        if rf not in valid:
            n_in, n_out = mult_size(g)
            common = set.intersection(*(set(valid_reuse_factors(*mult_size(x), backend)) for x in geometry))
            raise UserError(
                f"reuse factor {rf} is invalid for layer {g.name!r} (n_in={n_in}, n_out={n_out}; valid: "
                f"{_short(valid)}); valid for every layer: {_short(sorted(common))}"
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
