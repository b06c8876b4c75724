"""Cost-model estimates for the report: every argument-free registered cost model at the final bits, and da4ml.

Bits come from ``precisions.json`` (weight = ``weight.bits``, weight span = ``weight.span_bits``, act =
``input.bits``) and the exact integer weights; geometry is traced from the exact model.

da4ml (optional, imported lazily): each Linear/Conv layer's constant matrix-vector product, with the integer weights
and the layer's input quantizer range, is compiled into an adder graph exactly as
:func:`cost_models.calibration.da4ml_layer_cost` does (``adder_size=1, carry_size=-1``: cost = sum of adder bit
widths, about LUTs; latency = adder depth). A convolution is one CMVM (in_channels * prod(kernel) ->
out_channels) per output position; ``total`` counts every position (fully unrolled, io_parallel). Weights are taken
before hls4ml folds a BatchNorm into them; biases, BatchNorm and the residual adds are not counted. Layers with more
than :data:`DA4ML_MAX_WEIGHTS` weights, or reached after :data:`DA4ML_TIME_BUDGET_S` seconds, are skipped (the
solver's time grows steeply with the matrix size).
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from cost_models import LayerBits, LayerGeometry
from cost_models.report import all_costs, default_report_models
from csq_hw.handoff.precision_types import Precisions
from csq_hw.handoff.precisions import layer_bits

from .run_files import as_int

__all__ = ["final_bits", "cost_estimates", "da4ml_estimate", "DA4ML_MAX_WEIGHTS", "DA4ML_TIME_BUDGET_S"]

#: layers with more weights than this are skipped by the da4ml estimate (a 144 x 32 matrix took 17 s on 2 cores)
DA4ML_MAX_WEIGHTS = 2048
#: seconds after which the remaining layers are skipped
DA4ML_TIME_BUDGET_S = 30.0


def final_bits(precisions: dict[str, Any], model: nn.Module) -> dict[str, LayerBits]:
    """``{layer name: LayerBits}`` at the final (integer) precisions, with the exact model's integer weights."""
    state = model.state_dict()
    ints = {}
    for la in Precisions.of(precisions).layers:
        values = as_int(state[f"{la.name}.layer.weight"], la.weight.grid_exponent, f"{la.name} weight")
        ints[la.name] = torch.from_numpy(values)
    return layer_bits(precisions, ints)


def cost_estimates(
    geometry: Sequence[LayerGeometry],
    precisions: dict[str, Any],
    model: nn.Module,
    input_shape: tuple[int, ...],
) -> dict[str, Any]:
    """``{"models": {name: total}, "da4ml": ...}``; a failing cost model is reported, not raised."""
    bits = final_bits(precisions, model)
    models: dict[str, Any] = {}
    for name in default_report_models():
        try:
            models.update(all_costs(geometry, bits, names=[name]))
        except Exception as exc:  # pluggable models: one failing must not stop the export; the report says why
            models[name] = f"error: {type(exc).__name__}: {exc}"
    out: dict[str, Any] = {"models": models}
    if importlib.util.find_spec("da4ml") is None:
        out["da4ml"] = "not installed (pip install csq-hw[da4ml])"
    else:
        try:
            out["da4ml"] = da4ml_estimate(geometry, bits)
        except Exception as exc:  # optional estimate: never stops the export
            out["da4ml"] = f"error: {type(exc).__name__}: {exc}"
    return out


def _solve(weight_values: torch.Tensor, a_bits: int, a_signed: bool) -> tuple[float, float]:
    """(cost, latency) of ``x @ W.T`` for integer ``W`` [out, in]; the arguments of
    :func:`cost_models.calibration.da4ml_layer_cost` (which returns the cost only), plus the adder depth."""
    from da4ml.cmvm import QInterval, solve

    kernel = weight_values.detach().double().numpy().T.astype(np.float32)  # [in, out]
    if not np.any(kernel):
        return 0.0, 0.0
    lo, hi = (-(2.0 ** (a_bits - 1)), 2.0 ** (a_bits - 1) - 1) if a_signed else (0.0, 2.0**a_bits - 1)
    q = [QInterval(lo, hi, 1.0)] * kernel.shape[0]
    sol = solve(kernel, qintervals=q, adder_size=1, carry_size=-1, search_all_decompose_dc=False)
    return float(sol.cost), float(max(sol.latency))


def da4ml_estimate(
    geometry: Sequence[LayerGeometry],
    bits: dict[str, LayerBits],
    max_weights: int = DA4ML_MAX_WEIGHTS,
    time_budget_s: float = DA4ML_TIME_BUDGET_S,
) -> dict[str, Any]:
    """da4ml adder-graph cost per Linear/Conv layer and in total (see the module docstring).

    Returns ``{"total": sum of cost * instances over the estimated layers, "latency": sum of the layers' adder
    depths (an upper bound on the critical path where branches run in parallel), "complete": every layer estimated,
    "layers": {name: {"cost", "instances", "latency", "seconds"} or {"skipped": reason}}, "note"}``.
    """
    t0 = time.perf_counter()
    layers: dict[str, Any] = {}
    total = latency = 0.0
    for g in geometry:
        b = bits[g.name]
        if b.weight_values is None:
            layers[g.name] = {"skipped": "no integer weights"}
            continue
        w = b.weight_values.reshape(b.weight_values.shape[0], -1)  # conv: [out, in * prod(kernel)]
        if w.numel() > max_weights:
            layers[g.name] = {"skipped": f"{w.numel()} weights > {max_weights} (da4ml's solve time)"}
            continue
        if time.perf_counter() - t0 > time_budget_s:
            layers[g.name] = {"skipped": f"time budget of {time_budget_s:g} s spent"}
            continue
        t = time.perf_counter()
        cost, depth = _solve(w, int(b.act), bool(b.act_signed))
        instances = math.prod(g.out_shape[1:]) if g.op.startswith("conv") else 1
        layers[g.name] = {
            "cost": cost,
            "instances": instances,
            "latency": depth,
            "seconds": round(time.perf_counter() - t, 3),
        }
        total += cost * instances
        latency += depth
    return {
        "total": total,
        "latency": latency,
        "complete": all("skipped" not in v for v in layers.values()),
        "layers": layers,
        "note": "da4ml CMVM, HWConfig(1, -1, -1): cost = sum of adder bit widths (~LUT), latency = adder depth; "
        "weights before BatchNorm folding; biases, BatchNorm and residual adds not counted",
    }
