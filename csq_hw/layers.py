"""CSQ layers for Linear, Conv1d and Conv2d: input quantizer, bit-plane weight, fixed-point bias.

``CSQLinear(x)`` = ``F.linear(act(x), W, b_q)`` with W from :class:`BitPlaneWeight`, ``act`` an
:class:`ActQuant` and ``b_q`` the bias rounded (straight-through) to ``bias_bits`` signed bits with a
power-of-two step ``2^e_b``, ``e_b = ceil(log2(max|b| / (2^(B-1) - 1)))``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .act_quant import ActQuant
from .bitplane_weight import PHASES, BitPlaneWeight
from .fixed_point import quantize_fixed

__all__ = [
    "CSQLayer",
    "CSQLinear",
    "CSQConv1d",
    "CSQConv2d",
    "bias_step_exponent",
    "csq_layers",
    "set_temperature",
    "set_phase",
]


def bias_step_exponent(bias: torch.Tensor, bits: int) -> int:
    """``ceil(log2(max|b| / (2^(bits-1) - 1)))``: the finest power-of-two step that holds every bias."""
    max_abs = float(bias.detach().abs().max()) if bias.numel() else 0.0
    return math.ceil(math.log2(max(max_abs, 2.0**-30) / (2 ** (bits - 1) - 1)))


class CSQLayer(nn.Module):
    """Common part of the CSQ layers. Subclasses set ``op`` and implement ``_compute(x, w, b)``."""

    op = ""

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        act: ActQuant,
        n_bits: int = 8,
        weight_step: str = "pow2",
        mask_init: float = 0.0,
        plane_init: float = 0.5,
        bias_bits: int = 16,
        trainable_mask: bool = True,
    ) -> None:
        super().__init__()
        self.weight_q = BitPlaneWeight(weight, n_bits, weight_step, mask_init, plane_init, trainable_mask)
        self.bias = nn.Parameter(bias.detach().clone()) if bias is not None else None
        self.bias_bits = int(bias_bits)
        self.act = act

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return self.weight_q.weight_shape

    @property
    def weight(self) -> torch.Tensor:
        """The current (phase-dependent) weight tensor."""
        return self.weight_q()

    def bias_exponent(self) -> int | None:
        return None if self.bias is None else bias_step_exponent(self.bias, self.bias_bits)

    def quantized_bias(self) -> torch.Tensor | None:
        if self.bias is None:
            return None
        e = self.bias_exponent()
        return quantize_fixed(self.bias, 1, self.bias_bits - 1 + e, -e, ste=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._compute(self.act(x), self.weight_q(), self.quantized_bias())

    def _compute(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


class CSQLinear(CSQLayer):
    """CSQ version of ``nn.Linear``. Input (N, in_features) -> (N, out_features)."""

    op = "linear"

    def __init__(self, linear: nn.Linear, act: ActQuant, **kwargs: object) -> None:
        super().__init__(linear.weight, linear.bias, act, **kwargs)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def _compute(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return F.linear(x, w, b)


class _CSQConv(CSQLayer):
    def __init__(self, conv: nn.Conv1d | nn.Conv2d, act: ActQuant, **kwargs: object) -> None:
        if conv.padding_mode != "zeros":
            raise ValueError(f"only padding_mode='zeros' is supported, got {conv.padding_mode!r}")
        super().__init__(conv.weight, conv.bias, act, **kwargs)
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups


class CSQConv1d(_CSQConv):
    """CSQ version of ``nn.Conv1d``. Input (N, C, L)."""

    op = "conv1d"

    def _compute(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return F.conv1d(x, w, b, self.stride, self.padding, self.dilation, self.groups)


class CSQConv2d(_CSQConv):
    """CSQ version of ``nn.Conv2d``. Input (N, C, H, W)."""

    op = "conv2d"

    def _compute(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, self.groups)


def csq_layers(model: nn.Module) -> Iterator[tuple[str, CSQLayer]]:
    """``(name, layer)`` for every CSQ layer, in module order. Unwraps DDP's ``.module``."""
    model = getattr(model, "module", model)
    for name, m in model.named_modules():
        if isinstance(m, CSQLayer):
            yield name, m


def _quantizer_modules(model: nn.Module) -> Iterator[nn.Module]:
    model = getattr(model, "module", model)
    for m in model.modules():
        if isinstance(m, (BitPlaneWeight, ActQuant)):
            yield m


def set_temperature(model: nn.Module, temperature: float) -> None:
    """Set T on every bit-plane weight and activation quantizer (on the unwrapped module under DDP)."""
    for m in _quantizer_modules(model):
        m.temperature = float(temperature)


def set_phase(model: nn.Module, phase: str) -> None:
    """Set the phase (``search``, ``relaxed``, ``hard``) everywhere; see :mod:`csq_hw.bitplane_weight`."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    for m in _quantizer_modules(model):
        m.phase = phase
