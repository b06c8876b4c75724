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

from collections.abc import Sequence

import numpy as np
import torch

from .accelerators import GRID_MAX_BITS, accelerator, layer_cycles
from .base import BitsMap, CostError, LayerGeometry, parse_options
from .latency_table import LatencyTable
from .table_io import load_table

__all__ = ["LatencyTable", "LatencyCost", "AcceleratorLatency", "latency_from_arg"]


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

    def __repr__(self) -> str:
        return f"AcceleratorLatency(name={self.name!r}, unit={self.unit!r}, batch={self.batch})"


def latency_from_arg(arg: str | None) -> LatencyCost:
    """Factory behind ``latency:...``: ``NAME[,bN][,ns]`` or ``table=PATH``."""
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
