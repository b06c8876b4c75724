"""Cycles of one layer on a bit-serial / bit-flexible accelerator: compute, weight load, activation stream, fill.

Units: cycles of the accelerator clock; bits. Every function takes **planes**, the operand widths the datapath
processes: ``pw = LayerBits.weight + 1`` for signed weights (the sign plane: BISMO weighs it negatively,
``StageModels.hpp``'s ``negate``; Loom and Bit Fusion process two's-complement operands, Stripes' 16-b weights hold
the sign), ``pa = LayerBits.act`` (already the total width, sign included when signed). ``pw``/``pa`` are numpy
arrays (broadcast; the table generator passes the whole integer grid).

Work of a layer with ``G`` groups (``LayerGeometry.groups``; depthwise: ``G = C``): ``G`` independent matrix
products of ``M = C_out/G`` rows, reduction ``K = C_in/G * prod(kernel)`` (= ``fan_in``) and ``N = B * P`` columns
(``P`` output positions, ``B`` batch). Groups run one after another: a depthwise convolution cannot spread its
9-tap reduction over other channels, so it uses ``1`` of ``dm`` rows and ``9`` of ``dk`` reduction lanes.

**Compute** [cycle], ceilings = tile padding:

* BISMO: ``G * ceil(M/dm) * ceil(K/dk) * ceil(N/dn) * pw * pa`` (one Dm x Dk x Dn binary tile per cycle per bit
  pair; ``doc/instrumentation.md``).
* Stripes, conv: ``G * ceil(M/dm) * R * ceil(Cg/dk) * ceil(N/dn) * pa * ceil(pw/16)`` (``R`` kernel taps, ``Cg =
  C_in/G`` channels per tap in 16-activation bricks); FC (one window per sample, bit-parallel):
  ``G * ceil(M/dm) * ceil(K/dk) * B * ceil(pw/16) * ceil(pa/16)``.
* Loom: as Stripes with ``pw * pa`` (conv) and ``pw * ceil(pa/16)`` (FC: serial in the weights only).
* Bit Fusion: ``G * ceil(M/dm) * R * ceil(Cg / (dk * f)) * ceil(N/dn) * passes`` with the fusion factor
  ``f = floor(8/p_w) * floor(8/p_a)``, ``p = min(max(p, 2), 8)`` (``get_perf_factor``), and ``passes =
  ceil(pw/8) * ceil(pa/8)`` for operands wider than 8 b (those run in 8-bit mode, factor 1, several passes).

**Memory** [bit]: weights ``W = N_w * s_w(pw)``; input stream ``A = reads * s_a(pa)`` with ``reads`` = the lowered
matrix ``B * P * K * G`` for BISMO (CPU im2row) and the unique inputs ``B * n_inputs`` for the others; outputs
``O = B * n_outputs * s_o`` written back (``s_o`` = ``out_bits``, or ``s_a(pa)``: requantised on chip).
Containers ``s``: BISMO and Loom bit-packed (``s = p``), Stripes 16-b words, Bit Fusion 2/4/8-b words.

**Buffers and reloads**: usable capacity is half of each buffer (double buffering). When neither the weights nor
the inputs fit, the loop order that moves fewer bits is taken: weights stationary (weights once, inputs re-streamed
once per weight tile: ``W + ceil(W/Sw) * A``) or inputs stationary (weight tiles reloaded once per input tile:
``ceil(A/Sa) * W + A``). If either fits, both move once.

**Latency**: one interface of ``bw`` bit/cycle carries everything, overlapped with compute (BISMO's fetch/execute/
result stages run concurrently), except the pipeline fill: the first tile must arrive before the array starts and
the last results leave after it stops (Bit Fusion's simulator, ``optimizer.py``: ``compute + max(0, memory - initial
- final - compute) + initial reads + final writes``)::

    t_weight = W' / bw,  t_act = (A' + O) / bw,  t_mem = t_weight + t_act     (W', A': reloads included)
    t_fill = (dm_ * dk_ * s_w + dk_ * dn_ * s_a + dm_ * dn_ * s_o) / bw      (first tile in, last tile out;
                                                                              dm_ = min(M, dm), ... )
    cycles = max(t_compute + t_fill, t_mem)

(``t_fill + max(t_compute, t_mem - t_fill)``: the fill's bits are part of ``t_mem``, so they are not counted twice.)
Memory times are fractional cycles (bits / bit per cycle); the compute term is whole cycles.

**Regime** of a layer: ``compute`` when ``t_compute + t_fill >= t_mem``, else ``weight`` when ``t_weight >= t_act``,
else ``activation``. Ignored: DRAM latency and refresh, bank conflicts, instruction issue, the CPU's im2row and
requantisation time, layer-to-layer overlap, on-chip reuse of a layer's output by the next layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .accelerators import Accelerator
from .base import CostError, LayerGeometry

__all__ = ["REGIMES", "LayerTerms", "layer_terms", "layer_cycles", "compute_cycles", "regime_of"]

REGIMES = ("compute", "weight", "activation")


@dataclass(frozen=True)
class LayerTerms:
    """The latency terms of one layer [cycle], arrays broadcast over the bits asked for (or 0-dim).

    Attributes:
        compute: array cycles.
        weight: cycles moving weights over the interface, reloads included.
        activation: cycles streaming inputs (re-streams included) and writing outputs.
        fill: cycles before the first tile can start plus draining the last one.
        weight_loads: how often the weights cross the interface (1 = once).
        input_passes: how often the inputs cross the interface (1 = once).
    """

    compute: np.ndarray
    weight: np.ndarray
    activation: np.ndarray
    fill: np.ndarray
    weight_loads: np.ndarray
    input_passes: np.ndarray

    @property
    def memory(self) -> np.ndarray:
        """Interface cycles, ``weight + activation`` (one interface)."""
        return self.weight + self.activation

    @property
    def total(self) -> np.ndarray:
        """``max(compute + fill, memory)`` [cycle]."""
        return np.maximum(self.compute + self.fill, self.memory)

    @property
    def regime(self) -> np.ndarray:
        """``"compute"``, ``"weight"`` or ``"activation"`` per entry (see :func:`regime_of`)."""
        return regime_of(self.compute + self.fill, self.weight, self.activation)


def regime_of(busy: np.ndarray, weight: np.ndarray, activation: np.ndarray) -> np.ndarray:
    """The binding term: ``"compute"`` when the array's time ``busy`` (compute + fill) is at least ``weight +
    activation``, else the larger memory term (``"weight"`` on ties). String array, broadcast shape."""
    busy, weight, activation = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in
                                                     (busy, weight, activation)))  # fmt: skip
    mem = np.where(weight >= activation, "weight", "activation")
    return np.where(busy >= weight + activation, "compute", mem)


def _shape(geom: LayerGeometry, batch: int) -> tuple[int, int, int, int, int, int]:
    """``(G, M, Cg, R, K, N)``: groups, rows and input channels per group, kernel taps, reduction, columns."""
    g = max(int(geom.groups), 1)
    if geom.out_channels % g or geom.in_channels % g:
        raise CostError(f"layer {geom.name!r}: {geom.in_channels} -> {geom.out_channels} channels do not split "
                        f"into {g} groups")  # fmt: skip
    taps = math.prod(geom.kernel) if geom.kernel else 1
    return g, geom.out_channels // g, geom.in_channels // g, taps, geom.fan_in, batch * geom.output_pixels


def _cdiv(a: float, b: float) -> int:
    return -(-int(a) // int(b))


def compute_cycles(acc: Accelerator, geom: LayerGeometry, pw: np.ndarray, pa: np.ndarray, batch: int = 1
                   ) -> np.ndarray:  # fmt: skip
    """Array cycles of one layer at planes ``pw``/``pa`` (see the module docstring for each mapping)."""
    pw, pa = np.broadcast_arrays(np.asarray(pw, dtype=np.float64), np.asarray(pa, dtype=np.float64))
    g, m, cg, taps, k, n = _shape(geom, batch)
    fc = geom.op == "linear"
    if acc.mapping == "bismo":
        return g * _cdiv(m, acc.dm) * _cdiv(k, acc.dk) * _cdiv(n, acc.dn) * pw * pa
    if acc.mapping in ("stripes", "loom"):
        w_passes = np.maximum(np.ceil(pw / 16), 1)
        a_parallel = np.maximum(np.ceil(pa / 16), 1)  # bit-parallel activations (FC): 16 b per pass
        if fc:
            tiles = g * _cdiv(m, acc.dm) * _cdiv(k, acc.dk) * batch
            return tiles * (w_passes if acc.mapping == "stripes" else pw) * a_parallel
        tiles = g * _cdiv(m, acc.dm) * taps * _cdiv(cg, acc.dk) * _cdiv(n, acc.dn)
        return tiles * pa * (w_passes if acc.mapping == "stripes" else pw)
    if acc.mapping == "bitfusion":
        low = lambda p: np.floor(8 / np.clip(p, 2, 8))  # noqa: E731 - BitBrick fusion factor per operand
        passes = np.maximum(np.ceil(pw / 8), 1) * np.maximum(np.ceil(pa / 8), 1)
        lanes = acc.dk * low(pw) * low(pa)
        return g * _cdiv(m, acc.dm) * taps * np.ceil(cg / lanes) * _cdiv(n, acc.dn) * passes
    raise CostError(f"no compute mapping {acc.mapping!r} for accelerator {acc.name!r}")


def _store(acc: Accelerator, p: np.ndarray) -> np.ndarray:
    """Bits a ``p``-bit operand occupies in memory (container)."""
    if acc.mapping == "stripes":
        return 16 * np.maximum(np.ceil(p / 16), 1)
    if acc.mapping == "bitfusion":
        p = np.maximum(p, 2)
        return np.where(p <= 2, 2.0, np.where(p <= 4, 4.0, 8 * np.ceil(p / 8)))
    return p


def _input_reads(acc: Accelerator, geom: LayerGeometry, batch: int) -> int:
    """Input activations crossing the interface once: the lowered matrix (BISMO) or the unique inputs."""
    if acc.mapping == "bismo":
        g, _m, _cg, _taps, k, n = _shape(geom, batch)
        return g * k * n
    return batch * geom.n_inputs


def layer_terms(acc: Accelerator, geom: LayerGeometry, pw: np.ndarray, pa: np.ndarray, batch: int = 1
                ) -> LayerTerms:  # fmt: skip
    """Every latency term of one layer at planes ``pw``/``pa`` (numpy, broadcast), batch ``batch``."""
    pw, pa = np.broadcast_arrays(np.asarray(pw, dtype=np.float64), np.asarray(pa, dtype=np.float64))
    _g, m, _cg, _taps, k, n = _shape(geom, batch)
    s_w, s_a = _store(acc, pw), _store(acc, pa)
    s_o = np.full_like(s_a, acc.out_bits) if acc.out_bits > 0 else s_a
    w_bits = geom.n_weights * s_w
    a_bits = _input_reads(acc, geom, batch) * s_a
    o_bits = batch * geom.n_outputs * s_o
    sw, sa = acc.weight_buffer_bits / 2, acc.act_buffer_bits / 2
    w_tiles = np.maximum(np.ceil(w_bits / sw), 1)
    a_tiles = np.maximum(np.ceil(a_bits / sa), 1)
    fits = (w_tiles <= 1) | (a_tiles <= 1)
    weight_stationary = w_bits + w_tiles * a_bits <= a_tiles * w_bits + a_bits
    weight_loads = np.where(fits | weight_stationary, 1.0, a_tiles)
    input_passes = np.where(fits | ~weight_stationary, 1.0, w_tiles)
    dm_, dk_, dn_ = min(m, acc.dm), min(k, acc.dk), min(n, acc.dn)
    fill = (dm_ * dk_ * s_w + dk_ * dn_ * s_a + dm_ * dn_ * s_o) / acc.bw
    return LayerTerms(
        compute=compute_cycles(acc, geom, pw, pa, batch),
        weight=weight_loads * w_bits / acc.bw,
        activation=(input_passes * a_bits + o_bits) / acc.bw,
        fill=fill,
        weight_loads=weight_loads,
        input_passes=input_passes,
    )


def layer_cycles(acc: Accelerator, geom: LayerGeometry, pw: np.ndarray, pa: np.ndarray, batch: int = 1
                 ) -> np.ndarray:  # fmt: skip
    """Total cycles of one layer, ``max(compute + fill, memory)``, at planes ``pw``/``pa``."""
    return layer_terms(acc, geom, pw, pa, batch).total
