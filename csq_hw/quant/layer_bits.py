"""Read a CSQ model's per-layer bits as :class:`cost_models.LayerBits` (soft for the loss, hard for reports)."""

from __future__ import annotations

import torch
from torch import nn

from cost_models import LayerBits
from csq_hw.quant.bitplane_weight import soft_bits_of
from csq_hw.quant.layers import csq_layers

__all__ = ["soft_bits", "hard_bits", "average_bits"]


def _constant(value: float, device: torch.device) -> torch.Tensor:
    """A 0-dim float32 constant, made once per value and device (the fixed widths read every step)."""
    key = (float(value), device)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.tensor(float(value), device=device)
    return _CONSTANTS[key]


_CONSTANTS: dict[tuple[float, torch.device], torch.Tensor] = {}


def soft_bits(model: nn.Module) -> dict[str, LayerBits]:
    """Relaxed bits, differentiable in the mask logits while searching (exact in the other phases). The weight bits
    of all layers are computed together (:func:`~csq_hw.quant.bitplane_weight.soft_bits_of`); fixed activation
    widths and bias widths are cached constants."""
    layers = list(csq_layers(model))
    weight = soft_bits_of([layer.weight_q for _, layer in layers])
    out: dict[str, LayerBits] = {}
    for (name, layer), (count, span) in zip(layers, weight, strict=True):
        act = layer.act_bits(hard=False) if layer.act_searched else _constant(layer.act_bits(), count.device)
        out[name] = LayerBits(
            weight=count,
            act=act.to(count.device),
            weight_span=span,
            bias=_constant(layer.bias_width, count.device),
            weight_signed=True,
            act_signed=layer.act_signed,
        )
    return out


def hard_bits(model: nn.Module, with_values: bool = False) -> dict[str, LayerBits]:
    """Exact integer bits (float64 tensors); ``with_values`` adds the integer weights for per-weight models."""
    out: dict[str, LayerBits] = {}
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    for name, layer in csq_layers(model):
        count, span = layer.weight_bits()
        out[name] = LayerBits(
            weight=t(count),
            act=t(layer.act_bits()),
            weight_span=t(span),
            bias=t(layer.bias_width),
            weight_signed=True,
            act_signed=layer.act_signed,
            weight_values=layer.integer_weight().to(torch.float64) if with_values else None,
        )
    return out


def average_bits(model: nn.Module) -> dict[str, float]:
    """Average weight bits: parameter-weighted (sum n_l b_l / sum n_l) and unweighted over layers (paper's N r)."""
    counts, sizes = [], []
    for _, layer in csq_layers(model):
        counts.append(layer.weight_bits().count)
        sizes.append(torch.Size(layer.weight_shape).numel())
    if not counts:
        return {"weighted": 0.0, "unweighted": 0.0}
    weighted = sum(c * s for c, s in zip(counts, sizes, strict=True)) / sum(sizes)
    return {"weighted": float(weighted), "unweighted": float(sum(counts) / len(counts))}
