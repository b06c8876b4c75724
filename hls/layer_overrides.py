"""Per-layer overrides of the hls4ml configuration, from a TOML or JSON file keyed by layer name.

A file (``--layer-config FILE``) holds one table per layer, named by the run's layer name (as in
``precisions.json``: ``"0"``, ``"features.3"``) or by hls4ml's (``csq_report.json``'s ``hls_layer_names``)::

    # layers.toml
    ["features.0"]
    reuse_factor = 4
    strategy = "Resource"

    ["classifier.1"]
    reuse_factor = 8

Keys (:data:`OVERRIDE_KEYS`) map to hls4ml's ``LayerName`` keys. Precision keys are refused: the types come from the
quantizers (hls4ml's BitExact pass), and another type would break the bit-exact check.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from csq_hw.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .config import STRATEGIES, check_strategy

__all__ = ["OVERRIDE_KEYS", "load_layer_overrides", "check_overrides", "resolve_overrides"]

#: override key -> hls4ml ``LayerName`` key
#: (io_stream's ParallelizationFactor is left out: hls4ml 1.3 replaces an invalid one with a printed WARNING only)
OVERRIDE_KEYS = {"reuse_factor": "ReuseFactor", "strategy": "Strategy"}


def load_layer_overrides(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read ``path`` (``.toml`` or ``.json``) and check it (:func:`check_overrides`)."""
    path = Path(path)
    if path.suffix.lower() not in (".toml", ".json"):
        raise UserError(f"--layer-config {path}: give a .toml or .json file (one table per layer name)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"--layer-config {path} does not exist; give the path of a .toml or .json file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--layer-config {path} cannot be read ({exc}); give a readable text file") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"--layer-config {path} is not valid {path.suffix[1:].upper()}: {first}") from None
    return check_overrides(data, str(path))


def check_overrides(data: Any, where: str = "layer overrides") -> dict[str, dict[str, Any]]:
    """``data`` as ``{layer: {key: value}}`` with known keys and valid values (strategy names normalised)."""
    if not isinstance(data, Mapping):
        raise UserError(f'{where}: expected one table per layer name, e.g. ["0"] reuse_factor = 4')
    out: dict[str, dict[str, Any]] = {}
    for layer, values in data.items():
        if not isinstance(values, Mapping):
            raise UserError(f"{where}: layer {layer!r} must be a table of settings, e.g. reuse_factor = 4")
        checked: dict[str, Any] = {}
        for key, value in values.items():
            checked[key] = _check_value(where, str(layer), key, value)
        out[str(layer)] = checked
    return out


def _check_value(where: str, layer: str, key: str, value: Any) -> Any:
    at = f"{where}: layer {layer!r}"
    if key not in OVERRIDE_KEYS:
        if "precision" in key.lower():
            raise UserError(f"{at}: {key!r} cannot be overridden (the types come from the quantizers, and another "
                            "type would break the bit-exact check); train with other bits instead")  # fmt: skip
        near = difflib.get_close_matches(key, OVERRIDE_KEYS, n=1, cutoff=0.5)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise UserError(f"{at}: unknown setting {key!r}; {hint}known: {', '.join(OVERRIDE_KEYS)}")
    if key == "reuse_factor":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{at}: {key} = {value!r}; give a positive integer")
        return value
    match = [c for c in STRATEGIES if isinstance(value, str) and c.lower() == value.lower()]
    if not match:
        raise UserError(f"{at}: {key} = {value!r}; choose one of: {', '.join(STRATEGIES)}")
    return match[0]


def resolve_overrides(
    overrides: Mapping[str, Mapping[str, Any]], hls_names: Mapping[str, str], backend: str
) -> dict[str, dict[str, Any]]:
    """``{hls4ml layer name: {hls4ml key: value}}`` for :func:`hls.hls4ml_config.hls4ml_config`.

    Args:
        overrides: overrides (checked here by :func:`check_overrides`), keyed by the run's or hls4ml's layer names.
        hls_names: ``{run layer name: hls4ml layer name}`` of the Linear/Conv layers (the ones overrides apply to).
        backend: the export's backend (a strategy it does not implement is refused).
    """
    overrides = check_overrides(overrides)  # also when given in Python, not read from a file
    by_hls = {h: h for h in hls_names.values()}
    out: dict[str, dict[str, Any]] = {}
    for layer, values in overrides.items():
        target = hls_names.get(layer, by_hls.get(layer))
        if target is None:
            known = [*hls_names, *by_hls]
            near = difflib.get_close_matches(layer, known, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise UserError(f"layer overrides: no Linear/Conv layer {layer!r}; {hint}layers: {', '.join(hls_names)}")
        if target in out:
            raise UserError(f"layer overrides: layer {layer!r} is given twice (by the run's and hls4ml's name)")
        if "strategy" in values:
            check_strategy(backend, values["strategy"], f"layer {layer!r}: strategy")
        out[target] = {OVERRIDE_KEYS[k]: v for k, v in values.items()}
    return out
