"""Read and write latency lookup tables: long-format CSV and dense ``.npy``.

**Long CSV** (one row per measurement; the preferred, self-describing form)::

    layer,w_bits,a_bits,value,unit
    net.0,1,1,120,cycle
    ...

``unit`` is optional (default ``cycle``) and must be the same on every row. Every layer must have a value at
every (w_bits, a_bits) of one common rectangular grid of integer bits.

**Dense .npy** ``[L, Bw, Ba]`` (the HAQ layout): entry ``[l, i, j]`` is the value at ``w_bits = i + 1``,
``a_bits = j + 1``. Rows are positional, so the layer names live in a sidecar ``PATH.layers.json``: either a list
of names or ``{"layers": [...], "unit": "cycle", "w_min": 1, "a_min": 1}``.

Every error is one line naming the file, the row (CSV line number) or layer, and the fix.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from .base import CostError
from .latency_table import LatencyTable

__all__ = ["load_table", "load_csv", "load_npy", "save_csv", "save_npy"]


def load_table(path: str | Path) -> LatencyTable:
    """Load a ``.csv`` or ``.npy`` latency table (by extension)."""
    p = Path(path)
    if not p.is_file():
        raise CostError(f"latency table {p}: file not found; give an existing .csv or .npy path")
    if p.suffix.lower() == ".csv":
        return load_csv(p)
    if p.suffix.lower() == ".npy":
        return load_npy(p)
    raise CostError(f"latency table {p}: unknown format {p.suffix!r}; use a long-format .csv or a dense .npy")


def load_csv(path: str | Path) -> LatencyTable:
    """Long-format CSV ``layer,w_bits,a_bits,value[,unit]`` -> :class:`LatencyTable`."""
    try:
        return _load_csv(Path(path))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CostError(f"latency table {path}: not a readable text CSV ({type(exc).__name__}); save it as UTF-8 "
                        "long-format CSV layer,w_bits,a_bits,value[,unit]") from None  # fmt: skip


def _load_csv(p: Path) -> LatencyTable:
    values: dict[str, dict[tuple[int, int], float]] = {}
    units: set[str] = set()
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"layer", "w_bits", "a_bits", "value"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise CostError(
                f"latency table {p}: header {reader.fieldnames} lacks {sorted(need - set(reader.fieldnames or []))}; "
                "the first line must be layer,w_bits,a_bits,value[,unit]"
            )
        for line, row in enumerate(reader, start=2):
            where = f"latency table {p}, row {line}"
            layer = (row["layer"] or "").strip()
            if not layer:
                raise CostError(f"{where}: empty layer name; give the module name (e.g. net.0)")
            try:
                w, a = _int_bits(row["w_bits"]), _int_bits(row["a_bits"])
            except (TypeError, ValueError):  # TypeError: a short (truncated) row has None there
                raise CostError(
                    f"{where}: w_bits={row['w_bits']!r}, a_bits={row['a_bits']!r} are not integers; use integer bits"
                ) from None
            try:
                v = float(row["value"])
            except (TypeError, ValueError):
                raise CostError(f"{where}: value {row['value']!r} is not a number; give a finite value >= 0") from None
            if math.isnan(v) or math.isinf(v):
                raise CostError(f"{where}: value is {row['value']}; give a finite value >= 0")
            if v < 0:
                raise CostError(f"{where}: value {v} is negative; latencies must be >= 0")
            if w < 0 or a < 0:
                raise CostError(f"{where}: negative bits w_bits={w}, a_bits={a}; bits must be >= 0")
            if (w, a) in values.setdefault(layer, {}):
                raise CostError(f"{where}: duplicate entry for layer {layer!r} at w_bits={w}, a_bits={a}; keep one")
            values[layer][(w, a)] = v
            units.add((row.get("unit") or "cycle").strip() or "cycle")
    if not values:
        raise CostError(f"latency table {p}: no rows; add one row per layer, w_bits and a_bits")
    if len(units) > 1:
        raise CostError(f"latency table {p}: mixed units {sorted(units)}; use one unit for the whole table")
    ws = sorted({w for d in values.values() for w, _ in d})
    as_ = sorted({a for d in values.values() for _, a in d})
    w_min, w_max, a_min, a_max = ws[0], ws[-1], as_[0], as_[-1]
    layers: dict[str, np.ndarray] = {}
    for layer, d in values.items():
        grid = np.full((w_max - w_min + 1, a_max - a_min + 1), np.nan)
        for (w, a), v in d.items():
            grid[w - w_min, a - a_min] = v
        if np.isnan(grid).any():
            i, j = np.argwhere(np.isnan(grid))[0]
            raise CostError(
                f"latency table {p}: layer {layer!r} has no row for w_bits={w_min + i}, a_bits={a_min + j}; every "
                f"layer needs all of w_bits {w_min}..{w_max} x a_bits {a_min}..{a_max}"
            )
        layers[layer] = grid
    return LatencyTable(str(p), units.pop(), w_min, a_min, layers)


def _int_bits(s: str | None) -> int:
    f = float(s)  # type: ignore[arg-type]
    if f != int(f):
        raise ValueError(s)
    return int(f)


def load_npy(path: str | Path) -> LatencyTable:
    """Dense ``[L, Bw, Ba]`` array + ``PATH.layers.json`` sidecar -> :class:`LatencyTable`."""
    p = Path(path)
    side = Path(str(p) + ".layers.json")
    if not side.is_file():
        raise CostError(f"latency table {p}: missing sidecar {side.name} with the layer names (a JSON list)")
    try:
        meta = json.loads(side.read_text())
    except UnicodeDecodeError:
        raise CostError(f"latency table {p}: sidecar {side.name} is not UTF-8 text; fix it") from None
    except json.JSONDecodeError as exc:
        raise CostError(f"latency table {p}: sidecar {side.name} is not valid JSON ({exc.msg}); fix it") from None
    if isinstance(meta, list):
        meta = {"layers": meta}
    names = meta.get("layers") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CostError(
            f"latency table {p}: sidecar {side.name} must hold a list of layer names or {{'layers': [...]}}"
        )
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, EOFError, OSError, UnicodeDecodeError) as exc:  # truncated or not an .npy at all
        raise CostError(f"latency table {p}: cannot read ({type(exc).__name__}: {exc}); save a numeric array with "
                        "numpy.save") from None  # fmt: skip
    if arr.ndim != 3:
        raise CostError(f"latency table {p}: shape {arr.shape} is not [layers, w_bits, a_bits]; save a 3-D array")
    if arr.shape[0] != len(names):
        raise CostError(
            f"latency table {p}: {arr.shape[0]} rows but {len(names)} layer names in {side.name}; give one name per row"
        )
    arr = arr.astype(np.float64)
    for l_idx, name in enumerate(names):
        bad = ~np.isfinite(arr[l_idx]) | (arr[l_idx] < 0)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            w, a = i + int(meta.get("w_min", 1)), j + int(meta.get("a_min", 1))
            raise CostError(
                f"latency table {p}: row {l_idx} (layer {name!r}) at w_bits={w}, a_bits={a} is {arr[l_idx, i, j]}; "
                "entries must be finite and >= 0"
            )
    layers = {n: arr[k] for k, n in enumerate(names)}
    return LatencyTable(
        str(p), str(meta.get("unit", "cycle")), int(meta.get("w_min", 1)), int(meta.get("a_min", 1)), layers
    )


def save_csv(table: LatencyTable, path: str | Path) -> None:
    """Write ``table`` in the long CSV format."""
    with Path(path).open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["layer", "w_bits", "a_bits", "value", "unit"])
        for name, grid in table.layers.items():
            for i in range(grid.shape[0]):
                for j in range(grid.shape[1]):
                    out.writerow([name, table.w_min + i, table.a_min + j, repr(float(grid[i, j])), table.unit])


def save_npy(table: LatencyTable, path: str | Path) -> None:
    """Write ``table`` as a dense ``.npy`` plus the ``.layers.json`` sidecar."""
    names = list(table.layers)
    np.save(path, np.stack([table.layers[n] for n in names]))
    meta = {"layers": names, "unit": table.unit, "w_min": table.w_min, "a_min": table.a_min}
    Path(str(path) + ".layers.json").write_text(json.dumps(meta, indent=1))
