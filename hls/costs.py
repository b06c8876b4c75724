"""Cost-model estimates for the report: every argument-free registered cost model at the final bits.

Bits come from ``precisions.json`` (weight = ``weight.bits``, weight span = ``weight.span_bits``, act =
``input.bits``) and the exact integer weights; geometry is traced from the exact model.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from cost_models import LayerBits, LayerGeometry
from cost_models.report import all_costs, default_report_models

from .run import as_int

__all__ = ["final_bits", "cost_estimates"]


def final_bits(precisions: dict[str, Any], model: nn.Module) -> dict[str, LayerBits]:
    """``{layer name: LayerBits}`` at the final (integer) precisions."""
    state = model.state_dict()
    out: dict[str, LayerBits] = {}
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    for e in precisions["layers"]:
        w, q = e["weight"], e["input"]
        e_w = w["step_exponent"] if w["positions"] else 0
        ints = as_int(state[f"{e['name']}.layer.weight"], e_w, f"{e['name']} weight")
        out[e["name"]] = LayerBits(
            weight=t(w["bits"]),
            act=t(q["bits"]),
            weight_span=t(w["span_bits"]),
            bias=t(e["bias"]["bits"] if e["bias"] else 0),
            weight_signed=True,
            act_signed=bool(q["k"]),
            weight_values=torch.from_numpy(ints).to(torch.float64),
        )
    return out


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
        out["da4ml"] = "installed; the da4ml estimate is not wired into the report yet"
    return out
