"""``convert(model, config)``: swap a user's nn.Linear / nn.Conv1d / nn.Conv2d for CSQ layers.

Example:
    >>> from torch import nn
    >>> import csq_hw
    >>> m = csq_hw.quant.convert(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), csq_hw.QuantConfig())
    >>> [name for name, _ in csq_hw.csq_layers(m)]
    ['0', '2']
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from csq_hw.errors import UserError
from csq_hw.option_fields import option
from csq_hw.quant.act_quant import RANGE_MODES, ActQuant
from csq_hw.quant.layers import CSQConv1d, CSQConv2d, CSQLayer, CSQLinear
from csq_hw.quant.module_utils import set_submodule

__all__ = ["QuantConfig", "convert", "LAYER_POLICIES"]

LAYER_POLICIES = ("search", "fixed", "float")


@dataclass(frozen=True)
class QuantConfig:
    """How a float model becomes a CSQ model.

    Attributes:
        max_bits: N, bit positions per weight (1..16).
        act_bits: fixed activation width for every quantized layer input, or ``"search"``.
        act_max_bits, act_min_bits: the searched activation range (``act_bits="search"``).
        weight_step: ``"pow2"`` (exact fixed point, exportable) or ``"float"`` (paper-faithful, not exportable).
        mask_init: initial mask logit (0.0: every position selected by the hard mask ``m >= 0``); None: 0.0 here,
            and in a training run 0.5 after a float warm start (:meth:`csq_hw.train.config.TrainConfig.quant_config`).
        plane_init: initial bit-plane logit magnitude (+a set, -a unset). Small values keep the planes trainable
            while the temperature grows (sigmoid(T p) saturates once |T p| >> 1); 0.5 suits runs of 10-100 epochs.
        bias_bits: fixed bias width (signed).
        act_range: ``calibrated`` (every input quantizer's range 2^r from a running maximum) or ``learned`` (r the
            rounded log2 of a trained range, started at the calibrated one: :class:`~csq_hw.quant.act_quant.ActQuant`).
        first_layer, last_layer: ``"search"`` (as every layer, the paper's CIFAR setting), ``"fixed"`` (weights at
            N bits and activations at ``act_max_bits``, not searched, still priced) or ``"float"`` (left in float:
            not exportable).
        full_precision: substrings of module names kept in float (ResNet-20's 1x1 shortcuts by default).
        uniform: the uniform-precision baseline: every quantized layer's weights fixed at ``max_bits`` (mask not
            trainable) and its input at ``act_bits`` (an integer), nothing searched; first/last ``float`` still holds.
    """

    max_bits: int = option(8, unit="bit", help="bit positions per weight N (1..16)")
    act_bits: int | str = option(
        8, unit="bit", help="activation bits of every quantized layer input (2..16), or 'search'"
    )
    act_max_bits: int = option(8, unit="bit", help="upper end of the searched activation width")
    act_min_bits: int = option(2, unit="bit", help="lower end of the searched activation width")
    weight_step: str = option(
        "pow2",
        choices=("pow2", "float"),
        help="weight step: a power of two (exact fixed point, exportable) or float (the paper's)",
    )
    mask_init: float | None = option(
        None,
        default_text="0.5 after a warm start, else 0",
        help="initial mask logit (>= 0: every bit position selected)",
    )
    plane_init: float = option(0.5, help="initial bit-plane logit magnitude (+a set, -a unset)")
    bias_bits: int = option(16, unit="bit", help="bias width, signed (2..32)")
    act_range: str = option(
        "learned",
        choices=RANGE_MODES,
        help="activation ranges 2^r: calibrated from a running maximum, or learned (LSQ-style, power of two)",
    )
    first_layer: str = option(
        "search", choices=LAYER_POLICIES, help="first layer: searched as every layer, fixed at N bits, or left in float"
    )
    last_layer: str = option(
        "search", choices=LAYER_POLICIES, help="last layer: searched as every layer, fixed at N bits, or left in float"
    )
    full_precision: tuple[str, ...] = option((), config=False, help="module-name substrings kept in float")
    uniform: bool = option(False, config=False, help="fixed precision at max_bits/act_bits, nothing searched")

    def __post_init__(self) -> None:
        if not 1 <= self.max_bits <= 16:
            raise UserError(f"max_bits={self.max_bits} is out of range; use 1..16")
        if isinstance(self.act_bits, str):
            if self.act_bits != "search":
                raise UserError(f"act_bits={self.act_bits!r}; give an integer 2..16 or 'search'")
        elif not 2 <= int(self.act_bits) <= 16:
            raise UserError(f"act_bits={self.act_bits} is out of range; use 2..16 or 'search'")
        if not 2 <= self.act_min_bits <= self.act_max_bits <= 16:
            raise UserError("activation bit range must satisfy 2 <= act_min_bits <= act_max_bits <= 16")
        if self.weight_step not in ("pow2", "float"):
            raise UserError(f"weight_step={self.weight_step!r}; use 'pow2' (exportable) or 'float'")
        for key in ("first_layer", "last_layer"):
            if getattr(self, key) not in LAYER_POLICIES:
                raise UserError(f"{key}={getattr(self, key)!r}; use one of {', '.join(LAYER_POLICIES)}")
        if self.uniform and self.act_search:
            raise UserError("uniform precision needs a fixed act_bits (2..16), not 'search'")
        if self.act_range not in RANGE_MODES:
            raise UserError(f"act_range={self.act_range!r}; use one of {', '.join(RANGE_MODES)}")
        if not 2 <= self.bias_bits <= 32:
            raise UserError(f"bias_bits={self.bias_bits} is out of range; use 2..32")

    @property
    def act_search(self) -> bool:
        return self.act_bits == "search"


_CSQ_CLASS = {nn.Linear: CSQLinear, nn.Conv1d: CSQConv1d, nn.Conv2d: CSQConv2d}


def _candidates(model: nn.Module, full_precision: Sequence[str]) -> list[tuple[str, nn.Module]]:
    out = []
    for name, m in model.named_modules():
        if type(m) in _CSQ_CLASS and not any(s in name for s in full_precision):
            out.append((name, m))
    return out


def convert(model: nn.Module, config: QuantConfig | None = None) -> nn.Module:
    """A deep copy of ``model`` with every Linear/Conv1d/Conv2d replaced by its CSQ layer.

    The first and last such layers (in module order) follow ``config.first_layer``/``config.last_layer``;
    modules whose name contains a ``config.full_precision`` substring stay in float.
    """
    config = config or QuantConfig()
    model = copy.deepcopy(model)
    if any(isinstance(m, CSQLayer) for m in model.modules()):
        raise UserError("model already contains CSQ layers; convert the float model once")
    layers = _candidates(model, config.full_precision)
    if not layers:
        raise UserError("model has no nn.Linear, nn.Conv1d or nn.Conv2d to quantize")
    for j, (name, m) in enumerate(layers):
        policy = "search"
        if j == 0:
            policy = config.first_layer
        if j == len(layers) - 1:
            policy = config.last_layer if len(layers) > 1 or config.first_layer == "search" else policy
        if policy == "float":
            continue
        searched = policy == "search" and not config.uniform
        mode = config.act_range
        if config.uniform:
            act = ActQuant(bits=int(config.act_bits), range_mode=mode)
        elif config.act_search and searched:
            act = ActQuant(search=True, max_bits=config.act_max_bits, min_bits=config.act_min_bits, mask_init=0.0,
                           range_mode=mode)  # fmt: skip
        elif config.act_search:
            act = ActQuant(bits=config.act_max_bits, range_mode=mode)
        else:
            act = ActQuant(bits=int(config.act_bits), range_mode=mode)
        new = _CSQ_CLASS[type(m)](
            m,
            act,
            n_bits=config.max_bits,
            weight_step=config.weight_step,
            mask_init=0.0 if config.mask_init is None else config.mask_init,
            plane_init=config.plane_init,
            bias_bits=config.bias_bits,
            trainable_mask=searched,
        )
        set_submodule(model, name, new)
    return model
