"""From a trained CSQ model to the exact model and its ``precisions.json`` (schema in docs/precisions_v1.md)."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from csq_hw.handoff.precisions import PRECISIONS_SCHEMA, PRECISIONS_VERSION
from csq_hw.quant.exact import EXACT_FORMAT, EXACT_VERSION, ExactAffine, ExactQuantLayer, FixedPointQuant, _plain_layer
from csq_hw.quant.fixed_point import quantize_fixed
from csq_hw.quant.layers import CSQLayer, csq_layers, set_phase
from csq_hw.quant.module_utils import set_submodule

__all__ = ["PRECISIONS_SCHEMA", "PRECISIONS_VERSION", "to_exact", "precisions_dict", "exact_state"]

BN_BITS = 16


def _pow2_exponent(values: torch.Tensor, bits: int) -> int:
    max_abs = float(values.detach().abs().max()) if values.numel() else 0.0
    return math.ceil(math.log2(max(max_abs, 2.0**-30) / (2 ** (bits - 1) - 1)))


def _exact_layer(layer: CSQLayer) -> ExactQuantLayer:
    plain = _plain_layer(layer.op, layer)
    with torch.no_grad():
        if layer.weight_step_mode == "pow2":
            plain.weight.copy_(layer.integer_weight().to(torch.float64) * 2.0 ** layer.weight_step_exponent())
        else:
            plain.weight.copy_(layer.integer_weight().to(torch.float32) * layer.weight_step())
        if layer.bias is not None:
            plain.bias.copy_(layer.quantized_bias())
    k, i, f = layer.act.kif()
    return ExactQuantLayer(FixedPointQuant(k, i, f), plain)


def _bn_entries(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]


def _exact_affine(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[ExactAffine, int, int]:
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        es, eb = _pow2_exponent(scale, BN_BITS), _pow2_exponent(shift, BN_BITS)
        aff = ExactAffine(bn.num_features)
        aff.scale.copy_(quantize_fixed(scale.double(), 1, BN_BITS - 1 + es, -es).float())
        aff.shift.copy_(quantize_fixed(shift.double(), 1, BN_BITS - 1 + eb, -eb).float())
    return aff, es, eb


def to_exact(model: nn.Module) -> nn.Module:
    """The exact model (see :mod:`csq_hw.quant.exact`): CSQ layers and BatchNorms replaced, everything hard."""
    model = copy.deepcopy(getattr(model, "module", model)).eval()
    set_phase(model, "hard")
    for name, layer in list(csq_layers(model)):
        set_submodule(model, name, _exact_layer(layer))
    for name, bn in _bn_entries(model):
        set_submodule(model, name, _exact_affine(bn)[0])
    return model


def exact_state(model: nn.Module, precisions: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``exact_model.pt`` holds; with ``precisions`` also a copy of the ``precisions.json`` it belongs to, so
    that a reader can tell a pair of files from two different runs (or a hand-edited one) apart."""
    blob = {"format": EXACT_FORMAT, "version": EXACT_VERSION, "state_dict": to_exact(model).state_dict()}
    if precisions is not None:
        blob["precisions"] = precisions
    return blob


def _layer_entry(name: str, layer: CSQLayer) -> dict[str, Any]:
    pos = layer.selected_positions()
    ints = layer.integer_weight()
    e = layer.weight_step_exponent()
    weight: dict[str, Any] = {
        "bits": len(pos),
        "positions": pos,
        "span_bits": (pos[-1] - pos[0] + 1) if pos else 0,
        "step_exponent": e,
        "step": float(layer.weight_step().detach()),
        "k": 1,
        "i": (e + pos[-1] + 1) if (e is not None and pos) else None,
        "f": -(e + pos[0]) if (e is not None and pos) else None,
        "int_min": int(ints.min()),
        "int_max": int(ints.max()),
    }
    bias = None
    if layer.bias is not None:
        eb = layer.bias_exponent()
        bias = {"bits": layer.bias_bits, "step_exponent": eb, "k": 1, "i": layer.bias_bits - 1 + eb, "f": -eb}
    k, i, f = layer.act.kif()
    act = {
        "bits": k + i + f,
        "signed": bool(k),
        "k": k,
        "i": i,
        "f": f,
        "range_exponent": i,
        "step_exponent": -f,
        "rounding": "RND",
        "saturation": "SAT",
        "searched": layer.act_searched,
    }
    return {
        "name": name,
        "op": layer.op,
        "weight_shape": list(layer.weight_shape),
        "weight": weight,
        "bias": bias,
        "input": act,
        "searched": layer.searched,
    }


def precisions_dict(model: nn.Module, model_spec: dict[str, Any], weight_step: str, max_bits: int) -> dict[str, Any]:
    """The ``precisions.json`` content for a trained CSQ model.

    Args:
        model_spec: ``{"name", "kwargs", "input_shape", "n_classes"}``.
    """
    model = getattr(model, "module", model)
    layers = [_layer_entry(n, la) for n, la in csq_layers(model)]
    bns = []
    for name, bn in _bn_entries(model):
        _, es, eb = _exact_affine(bn)
        bns.append(
            {
                "name": name,
                "channels": bn.num_features,
                "scale_step_exponent": es,
                "shift_step_exponent": eb,
                "bits": BN_BITS,
            }
        )
    csq_names = {n for n, _ in csq_layers(model)}
    full = [
        n
        for n, m in model.named_modules()
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)) and not any(n.startswith(c + ".") for c in csq_names)
    ]
    return {
        "schema": PRECISIONS_SCHEMA,
        "version": PRECISIONS_VERSION,
        "model": model_spec,
        "max_bits": max_bits,
        "weight_step": weight_step,
        "layers": layers,
        "batchnorm": bns,
        "full_precision": full,
    }
