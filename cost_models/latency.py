"""Bit-serial latency as lookup tables ``[layer, w_bits, a_bits]``, queried with bilinear interpolation.

A :class:`LatencyTable` holds, per layer name, a dense grid of values at integer ``w_bits`` in
``[w_min, w_max]`` and ``a_bits`` in ``[a_min, a_max]``. The query at relaxed bits is the bilinear interpolant
(:func:`cost_models.interp.table_interp2`): exact at grid points, continuous, with gradients between them.
``w_bits`` is ``LayerBits.weight`` (selected positions, sign not counted) and ``a_bits`` is ``LayerBits.act``.

Sources of tables:

* generated from the analytic accelerator models (:mod:`cost_models.accelerators`) for a traced geometry:
  registry names ``latency:stripes``, ``latency:loom``, ``latency:bismo``, ``latency:bitfusion``, grid 0..32 bits,
  unit cycles; options after a comma: ``bN`` batch size (default 1), ``ns`` nanoseconds at the published clock
  (e.g. ``latency:bismo,b16,ns``);
* user tables, ``latency:table=PATH`` (see :mod:`cost_models.table_io`): long-format CSV ``layer,w_bits,a_bits,
  value[,unit]`` or a dense ``.npy`` ``[L, Bw, Ba]`` (HAQ layout, index ``bits - 1``) with layer names in
  ``PATH.layers.json``.

HAQ (``mit-han-lab/haq: lib/env/linear_quantize_env.py``, MIT) uses the same policy cost,
``sum_l table[l, w_bits - 1, a_bits - 1]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .accelerators import GRID_MAX_BITS, accelerator, layer_cycles
from .base import BitsMap, CostError, LayerGeometry, parse_options
from .interp import table_interp2

__all__ = ["LatencyTable", "LatencyCost", "AcceleratorLatency", "latency_from_arg"]


@dataclass(frozen=True)
class LatencyTable:
    """Per-layer dense grids of latency values.

    Attributes:
        source: where the table came from (a file path or ``accelerator:NAME``); named in every error.
        unit: ``"cycle"``, ``"ns"``, ... .
        w_min, a_min: bits of the first grid row / column.
        layers: layer name -> float64 array ``[n_w, n_a]``; every layer has the same shape.
    """

    source: str
    unit: str
    w_min: int
    a_min: int
    layers: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        shapes = {v.shape for v in self.layers.values()}
        if len(shapes) > 1:
            raise CostError(f"latency table {self.source}: layers have different grid shapes {sorted(shapes)}")
        for name, v in self.layers.items():
            if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] < 1:
                raise CostError(f"latency table {self.source}: layer {name!r} has shape {v.shape}, expected [Bw, Ba]")
            if not np.isfinite(v).all():
                i, j = np.argwhere(~np.isfinite(v))[0]
                raise CostError(
                    f"latency table {self.source}: layer {name!r} at w_bits={self.w_min + i}, a_bits={self.a_min + j} "
                    "is NaN or infinite; fill in a finite value"
                )
            if (v < 0).any():
                i, j = np.argwhere(v < 0)[0]
                raise CostError(
                    f"latency table {self.source}: layer {name!r} at w_bits={self.w_min + i}, a_bits={self.a_min + j} "
                    f"is negative ({v[i, j]}); latencies must be >= 0"
                )

    @property
    def w_max(self) -> int:
        return self.w_min + next(iter(self.layers.values())).shape[0] - 1

    @property
    def a_max(self) -> int:
        return self.a_min + next(iter(self.layers.values())).shape[1] - 1

    def check_layers(self, names: Sequence[str]) -> None:
        """Raise a :class:`CostError` naming the first layer of ``names`` missing from the table."""
        for n in names:
            if n not in self.layers:
                raise CostError(
                    f"latency table {self.source}: no rows for layer {n!r}; add rows layer={n} for w_bits "
                    f"{self.w_min}..{self.w_max} x a_bits {self.a_min}..{self.a_max} (table has: "
                    f"{', '.join(self.layers)})"
                )

    def lookup(self, name: str, w_bits: torch.Tensor, a_bits: torch.Tensor) -> torch.Tensor:
        """Bilinear value at (w_bits, a_bits); exact at integers; :class:`CostError` outside the grid."""
        self.check_layers([name])
        w, a = float(w_bits.detach()), float(a_bits.detach())
        if not (self.w_min <= w <= self.w_max and self.a_min <= a <= self.a_max):
            raise CostError(
                f"latency table {self.source}: layer {name!r} queried at w_bits={w:g}, a_bits={a:g}, outside its "
                f"range w_bits {self.w_min}..{self.w_max}, a_bits {self.a_min}..{self.a_max}; extend the table or "
                "keep the bits inside it"
            )
        grid = torch.as_tensor(self.layers[name], dtype=torch.float64)
        dtype = torch.promote_types(w_bits.dtype, a_bits.dtype)
        return table_interp2(grid, w_bits.to(dtype), a_bits.to(dtype), self.w_min, self.a_min)


class LatencyCost:
    """A :class:`~cost_models.base.CostModel` summing a :class:`LatencyTable` over layers (layers run in sequence)."""

    def __init__(self, table: LatencyTable, name: str) -> None:
        self.table = table
        self.name = name
        self.unit = table.unit

    def per_layer(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> dict[str, torch.Tensor]:
        self.table.check_layers([g.name for g in geometry])
        out = {}
        for g in geometry:
            if g.name not in bits:
                raise CostError(f"no bits for layer {g.name!r}; give LayerBits for every traced layer")
            b = bits[g.name]
            out[g.name] = self.table.lookup(g.name, b.weight, b.act)
        return out

    def __call__(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> torch.Tensor:
        parts = list(self.per_layer(geometry, bits).values())
        return torch.stack(parts).sum() if parts else torch.tensor(0.0)

    def __repr__(self) -> str:
        return f"LatencyCost(name={self.name!r}, unit={self.unit!r}, source={self.table.source!r})"


class AcceleratorLatency(LatencyCost):
    """Latency on an analytic accelerator model; the table is generated per geometry (cached) on first use."""

    def __init__(self, acc_name: str, batch: int = 1, unit: str = "cycle", name: str | None = None) -> None:
        self.acc = accelerator(acc_name)
        self.batch = int(batch)
        self.name = name or f"latency:{acc_name}"
        self.unit = unit
        self._cache: dict[tuple[LayerGeometry, ...], LatencyTable] = {}

    def table_for(self, geometry: Sequence[LayerGeometry]) -> LatencyTable:
        """The generated table for ``geometry`` (grid 0..32 bits, in ``self.unit``)."""
        key = tuple(geometry)
        if key not in self._cache:
            grid = np.arange(GRID_MAX_BITS + 1, dtype=np.float64)
            w, a = np.meshgrid(grid, grid, indexing="ij")
            scale = 1000.0 / self.acc.clock_mhz if self.unit == "ns" else 1.0
            layers = {g.name: layer_cycles(self.acc, g, w, a, self.batch) * scale for g in geometry}
            self._cache[key] = LatencyTable(f"accelerator:{self.acc.name}", self.unit, 0, 0, layers)
        return self._cache[key]

    def per_layer(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> dict[str, torch.Tensor]:
        self.table = self.table_for(geometry)
        return super().per_layer(geometry, bits)


def latency_from_arg(arg: str | None) -> LatencyCost:
    """Factory behind ``latency:...``: ``NAME[,bN][,ns]`` or ``table=PATH``."""
    from .table_io import load_table

    if not arg:
        raise CostError("latency needs an accelerator or a table: latency:bismo, latency:table=PATH, ...")
    if arg.startswith("table="):
        path = arg[len("table=") :]
        return LatencyCost(load_table(path), f"latency:table={path}")
    acc_name, _, opts = arg.partition(",")
    options = parse_options(f"latency:{acc_name}", opts, flags=("ns",), numeric=("b",))
    batch = options.get("b", 1)
    if float(batch) != int(batch):  # type: ignore[arg-type]
        raise CostError(f"batch size must be an integer, got b{batch}")
    return AcceleratorLatency(
        acc_name,
        int(batch),
        "ns" if options.get("ns") else "cycle",
        name=f"latency:{arg}",  # type: ignore[arg-type]
    )
