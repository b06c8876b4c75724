"""The per-layer types that the bits and the fan-in alone require, for the report beside hls4ml's BitExact types.

:func:`planned_types` gives the worst-case types from the bits and the fan-in (what a type that ignores the weight
values would need); hls4ml's ``BitExact`` pass derives tighter ones from the actual weights. ``csq_report.json``
shows both (``planned_types`` and ``types``).
"""

from __future__ import annotations

from typing import Any

from cost_models import LayerGeometry
from csq_hw.handoff.precision_types import Precisions

from .precision import FixedType, bits_for_int_range

__all__ = ["planned_types"]


def planned_types(precisions: Precisions | dict[str, Any], geometry: list[LayerGeometry]) -> dict[str, dict[str, str]]:
    """Per layer, the types that the bits and the fan-in alone require (worst case over every input and weight).

    input: the layer's quantizer (RND, SAT); weight/bias: the declared grids; accum: ``f = f_in + f_w`` (or the
    bias's f if finer), range ``fan_in * max|x| * max|w| + max|b|`` (no overflow for any weights of these bits).
    """
    geo = {g.name: g for g in geometry}
    out: dict[str, dict[str, str]] = {}
    for la in Precisions.of(precisions).layers:
        name, q, w = la.name, la.input, la.weight
        x_t = FixedType(q.k, q.i, q.f, "RND", "SAT")
        lo, hi = x_t.int_range()
        x_max = max(-lo, hi)
        types = {"input": x_t.to_hls()}
        if w.positions:
            w_f = int(w.f)
            w_t = FixedType(1, int(w.i), w_f, "TRN", "WRAP")
            w_max = sum(1 << (b - w.positions[0]) for b in w.positions)  # codes on the 2^-w_f grid
            types["weight"] = w_t.to_hls()
        else:
            w_f, w_max = 0, 0
        f_acc = x_t.f + w_f
        bound = geo[name].fan_in * x_max * w_max if name in geo else 0
        if la.bias is not None:
            b = la.bias
            b_t = FixedType(1, int(b.i), int(b.f), "TRN", "WRAP")
            types["bias"] = b_t.to_hls()
            f_new = max(f_acc, b_t.f)
            bound = (bound << (f_new - f_acc)) + (2 ** (b.bits - 1) << (f_new - b_t.f))
            f_acc = f_new
        types["accum"] = bits_for_int_range(-bound, bound, f_acc).to_hls()
        out[name] = types
    return out
