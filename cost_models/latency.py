"""Bit-serial latency as lookup tables ``[layer, w_bits, a_bits]``, queried with bilinear interpolation.

A :class:`LatencyTable` holds, per layer name, a dense grid of values at integer ``w_bits`` in
``[w_min, w_max]`` and ``a_bits`` in ``[a_min, a_max]``. The query at relaxed bits is the bilinear interpolant
(:func:`cost_models.interp.table_interp2`): exact at grid points, continuous, with gradients between them.
``w_bits`` is ``LayerBits.weight`` (selected positions, sign not counted) and ``a_bits`` is ``LayerBits.act``.

Sources of tables:

* generated from the analytic accelerator models (:mod:`cost_models.bitserial`, parameters in
  :mod:`cost_models.accelerators`) for a traced geometry: registry names ``latency:stripes``, ``latency:loom``,
  ``latency:bismo``, ``latency:bitfusion``, grid 0..32 bits, unit cycles. Options after a comma: ``bN`` batch size
  (default 1), ``ns`` nanoseconds at the accelerator's clock, and the accelerator's parameters ``dmN``, ``dkN``,
  ``dnN`` (array lanes), ``bwN`` (interface bit/cycle), ``wbufN``/``abufN`` (buffers, KiB), ``lmemN``/``rmemN``
  (buffer depth in dk-bit words per row), ``mhzN`` (clock), ``obN`` (bits per output written back), e.g.
  ``latency:bismo,dm16,dk256,dn16,bw256,b16``. The sign plane of signed weights is priced (the table for a signed
  layer holds the cycles at ``w + 1`` weight planes; see :mod:`cost_models.bitserial`);
* user tables, ``latency:table=PATH`` (see :mod:`cost_models.table_io`): long-format CSV ``layer,w_bits,a_bits,
  value[,unit]`` or a dense ``.npy`` ``[L, Bw, Ba]`` (HAQ layout, index ``bits - 1``) with layer names in
  ``PATH.layers.json``.

HAQ (``mit-han-lab/haq: lib/env/linear_quantize_env.py``, MIT) uses the same policy cost,
``sum_l table[l, w_bits - 1, a_bits - 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .accelerators import GRID_MAX_BITS, OPTION_FIELDS, Accelerator, accelerator, with_options
from .base import BitsMap, CostError, LayerBits, LayerGeometry, parse_options
from .bitserial import LayerTerms, layer_terms
from .latency_table import LatencyTable
from .table_io import load_table

__all__ = ["LatencyTable", "LatencyCost", "AcceleratorLatency", "latency_from_arg"]


class LatencyCost:
    """A :class:`~cost_models.base.CostModel` summing a :class:`LatencyTable` over layers (layers run in sequence)."""

    def __init__(self, table: LatencyTable, name: str) -> None:
        self.table = table
        self.name = name
        self.unit = table.unit

    def _table_of(self, geometry: Sequence[LayerGeometry]) -> Callable[[LayerBits], LatencyTable]:
        """The table to query for a layer's bits (one table here; per weight signedness for accelerators)."""
        return lambda _bits: self.table

    def per_layer(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> dict[str, torch.Tensor]:
        table_of = self._table_of(geometry)
        out = {}
        for g in geometry:
            if g.name not in bits:
                raise CostError(f"no bits for layer {g.name!r}; give LayerBits for every traced layer")
            b = bits[g.name]
            table = table_of(b)
            table.check_layers([g.name])
            out[g.name] = table.lookup(g.name, b.weight, b.act)
        return out

    def __call__(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> torch.Tensor:
        parts = list(self.per_layer(geometry, bits).values())
        return torch.stack(parts).sum() if parts else torch.tensor(0.0)

    def __repr__(self) -> str:
        return f"LatencyCost(name={self.name!r}, unit={self.unit!r}, source={self.table.source!r})"


class AcceleratorLatency(LatencyCost):
    """Latency on an analytic accelerator model; tables are generated per geometry (cached) on first use.

    Args:
        acc: an :class:`~cost_models.accelerators.Accelerator` or the name of a shipped one.
        batch: samples per run (``bN``).
        unit: ``"cycle"`` or ``"ns"`` (at ``acc.clock_mhz``).
    """

    def __init__(self, acc: Accelerator | str, batch: int = 1, unit: str = "cycle", name: str | None = None) -> None:
        self.acc = accelerator(acc) if isinstance(acc, str) else acc
        self.batch = int(batch)
        self.name = name or f"latency:{self.acc.name}"
        self.unit = unit
        self._cache: dict[tuple[tuple[LayerGeometry, ...], bool], LatencyTable] = {}

    @property
    def scale(self) -> float:
        """Unit per cycle: 1, or ns per cycle at the accelerator's clock."""
        return 1000.0 / self.acc.clock_mhz if self.unit == "ns" else 1.0

    def table_for(self, geometry: Sequence[LayerGeometry], weight_signed: bool = True) -> LatencyTable:
        """The generated table for ``geometry`` (grid ``w_bits``, ``a_bits`` 0..32, in ``self.unit``); for signed
        weights each entry is priced at ``w_bits + 1`` weight planes."""
        key = (tuple(geometry), bool(weight_signed))
        if key not in self._cache:
            grid = np.arange(GRID_MAX_BITS + 1, dtype=np.float64)
            w, a = np.meshgrid(grid + float(weight_signed), grid, indexing="ij")
            layers = {g.name: layer_terms(self.acc, g, w, a, self.batch).total * self.scale for g in geometry}
            self._cache[key] = LatencyTable(f"accelerator:{self.acc.name}", self.unit, 0, 0, layers)
        return self._cache[key]

    def _table_of(self, geometry: Sequence[LayerGeometry]) -> Callable[[LayerBits], LatencyTable]:
        tables: dict[bool, LatencyTable] = {}  # looked up once per call, not once per layer

        def table_of(bits: LayerBits) -> LatencyTable:
            signed = bool(bits.weight_signed)
            if signed not in tables:
                tables[signed] = self.table = self.table_for(geometry, signed)
            return tables[signed]

        return table_of

    def layer_terms(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> dict[str, LayerTerms]:
        """Per layer, every latency term (0-dim float arrays in ``self.unit``) at the layer's bits: exact at integer
        bits, bilinear between them (as the table), so ``total`` equals :meth:`per_layer`. Not differentiable."""
        out = {}
        for g in geometry:
            if g.name not in bits:
                raise CostError(f"no bits for layer {g.name!r}; give LayerBits for every traced layer")
            b = bits[g.name]
            w_bits, a = float(b.weight.detach()), float(b.act.detach())
            if not (0 <= w_bits <= GRID_MAX_BITS and 0 <= a <= GRID_MAX_BITS):
                raise CostError(f"layer {g.name!r}: bits w={w_bits:g}, a={a:g} outside 0..{GRID_MAX_BITS}")
            w = w_bits + float(b.weight_signed)  # weight planes, the sign plane included
            w0, a0 = math.floor(w), math.floor(a)
            tw, ta = w - w0, a - a0
            ws = np.array([[w0, w0], [w0 + 1, w0 + 1]], dtype=np.float64)
            as_ = np.array([[a0, a0 + 1], [a0, a0 + 1]], dtype=np.float64)
            corners = layer_terms(self.acc, g, ws, as_, self.batch)  # the four grid points around (w, a)
            blend = np.array([[(1 - tw) * (1 - ta), (1 - tw) * ta], [tw * (1 - ta), tw * ta]])
            scale = {"compute": self.scale, "weight": self.scale, "activation": self.scale, "fill": self.scale,
                     "weight_loads": 1.0, "input_passes": 1.0}  # fmt: skip
            values = {f: np.asarray((getattr(corners, f) * blend).sum() * k) for f, k in scale.items()}
            out[g.name] = LayerTerms(**values)
        return out

    def __repr__(self) -> str:
        return f"AcceleratorLatency(name={self.name!r}, unit={self.unit!r}, batch={self.batch}, acc={self.acc!r})"


_NUMERIC = ("bw", "b", *(k for k in OPTION_FIELDS if k != "bw"))  # "bw" before "b": prefixes are tried in order


def latency_from_arg(arg: str | None) -> LatencyCost:
    """Factory behind ``latency:...``: ``NAME[,bN][,ns][,dmN,dkN,dnN,bwN,wbufN,abufN,lmemN,rmemN,mhzN,obN]`` or
    ``table=PATH``."""
    if not arg:
        raise CostError("latency needs an accelerator or a table: latency:bismo, latency:table=PATH, ...")
    if arg.startswith("table="):
        path = arg[len("table=") :]
        return LatencyCost(load_table(path), f"latency:table={path}")
    acc_name, _, opts = arg.partition(",")
    acc = accelerator(acc_name)
    options = parse_options(f"latency:{acc_name}", opts, flags=("ns",), numeric=_NUMERIC)
    batch = options.pop("b", 1)
    if float(batch) != int(batch):  # type: ignore[arg-type]
        raise CostError(f"batch size must be an integer, got b{batch}")
    unit = "ns" if options.pop("ns", False) else "cycle"
    acc = with_options(acc, options)  # type: ignore[arg-type]
    return AcceleratorLatency(acc, int(batch), unit, name=f"latency:{arg}")  # type: ignore[arg-type]
