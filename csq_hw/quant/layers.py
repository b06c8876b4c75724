"""CSQ layers for Linear, Conv1d and Conv2d: input quantizer, bit-plane weight, fixed-point bias.

``CSQLinear(x)`` = ``F.linear(act(x), W, b_q)`` with W from :class:`BitPlaneWeight`, ``act`` an
:class:`ActQuant` and ``b_q`` the bias rounded (straight-through) to ``bias_bits`` signed bits with a
power-of-two step ``2^e_b``, ``e_b = ceil(log2(max|b| / (2^(B-1) - 1)))``. On a CUDA device and under
``torch.compile`` the forward pass computes ``e_b`` on the device (:func:`bias_scale_tensor`): no host
synchronisation, no graph break; in eager mode on the CPU from one host read (:func:`bias_step_exponent`, the same
value).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import nn

from csq_hw.quant.act_quant import ActQuant
from csq_hw.quant.bit_moves import BitMove, SoftWeightBits, WeightBits, set_logit
from csq_hw.quant.bitplane_weight import PHASES, BitPlaneWeight
from csq_hw.quant.fixed_point import int_range, quantize_scaled
from csq_hw.quant.host_scalars import ceil_log2, on_host

__all__ = [
    "BitMove",
    "CSQLayer",
    "CSQLinear",
    "CSQConv1d",
    "CSQConv2d",
    "bias_step_exponent",
    "bias_scale_tensor",
    "csq_layers",
    "set_temperature",
    "set_phase",
]


def bias_step_exponent(bias: torch.Tensor, bits: int) -> int:
    """``ceil(log2(max|b| / (2^(bits-1) - 1)))``: the finest power-of-two step that holds every bias."""
    max_abs = float(bias.detach().abs().max()) if bias.numel() else 0.0
    return ceil_log2(max(max_abs, 2.0**-30) / (2 ** (bits - 1) - 1))  # exact (frexp), as bias_scale_tensor


def bias_scale_tensor(bias: torch.Tensor, bits: int) -> torch.Tensor:
    """``2^-e_b`` with e_b = :func:`bias_step_exponent` (the bias grid's scale), a 0-dim tensor in the bias's dtype on
    its device, without reading back: the same float64 quotient q = max(max|b|, 2^-30) / (2^(bits-1) - 1), and
    ``ceil(log2 q) = e - [m == 0.5]`` for ``q = m 2^e`` (``frexp``, exact)."""
    if not bias.numel():
        return torch.tensor(2.0 ** -bias_step_exponent(bias, bits), dtype=bias.dtype, device=bias.device)
    with torch.no_grad():
        q = bias.abs().max().to(torch.float64).clamp_min(2.0**-30) / (2 ** (bits - 1) - 1)
        mantissa, exponent = torch.frexp(q)
        return torch.exp2((mantissa == 0.5).to(bias.dtype) - exponent)


class CSQLayer(nn.Module):
    """Common part of the CSQ layers. Subclasses set ``op`` and implement ``_compute(x, w, b)``.

    Code outside :mod:`csq_hw.quant` reads a layer through the interface below (the ``searched`` flag, bits,
    positions, parameter groups, the repair's :class:`BitMove` s), never through ``weight_q``'s internals.
    """

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

    def reference_weight(self) -> torch.Tensor:
        """The same weight as :attr:`weight` built by the unfused reference composition (not while fine-tuning):
        for tests and benchmarks, see :meth:`BitPlaneWeight.reference_weight`."""
        return self.weight_q.reference_weight()

    def bias_exponent(self) -> int | None:
        return None if self.bias is None else bias_step_exponent(self.bias, self.bias_bits)

    def quantized_bias(self) -> torch.Tensor | None:
        """The bias on its ``bias_bits``-bit grid ``2^e_b`` (straight-through); ``e_b`` as the module docstring says."""
        if self.bias is None:
            return None
        host = on_host(self.bias)  # eager on the CPU: the exponent from one host read (csq_hw.quant.host_scalars)
        scale = 2.0 ** -self.bias_exponent() if host else bias_scale_tensor(self.bias, self.bias_bits)  # 2^f, f = -e_b
        lo, hi = int_range(1, self.bias_bits)
        return quantize_scaled(self.bias, scale, lo, hi, ste=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._compute(self.act(x), self.weight_q(), self.quantized_bias())

    # --- precision: flags and bits --------------------------------------------------------------------------
    @property
    def searched(self) -> bool:
        """True when the weight precision (which bit positions) is searched; False when it is fixed at N bits
        (first/last-layer policy ``fixed``, the uniform and QAT baselines)."""
        return self.weight_q.searched

    @property
    def act_searched(self) -> bool:
        """True when the input activation width is searched (between :meth:`act_bit_range`)."""
        return self.act.search

    @property
    def act_signed(self) -> bool:
        """Whether the input quantizer has a sign bit (False until its first calibration batch)."""
        return bool(self.act.k)

    @property
    def act_calibrated(self) -> bool:
        """Whether the input quantizer's signedness is fixed (its first calibration batch, or a loaded state): from
        then on the forward pass reads nothing back to the host."""
        return self.act.sign_known

    @property
    def max_weight_bits(self) -> int:
        """N, the number of weight bit positions."""
        return self.weight_q.n_bits

    @property
    def bias_width(self) -> int:
        """Bias bits stored: ``bias_bits``, or 0 without a bias."""
        return self.bias_bits if self.bias is not None else 0

    @property
    def is_finetuning(self) -> bool:
        """True once the weight is a straight-through shadow weight (:meth:`start_finetune`)."""
        return self.weight_q.is_finetuning

    @overload
    def weight_bits(self, hard: Literal[True] = ...) -> WeightBits: ...

    @overload
    def weight_bits(self, hard: Literal[False]) -> SoftWeightBits: ...

    def weight_bits(self, hard: bool = True) -> WeightBits | SoftWeightBits:
        """Weight precision ``(count, span)`` in bits: exact integers from the hard mask (``hard``), else 0-dim
        tensors of the current mask (differentiable while searching, exact in the other phases)."""
        if hard:
            return WeightBits(*self.weight_q.hard_bits())
        return SoftWeightBits(*self.weight_q.soft_bits())

    @overload
    def act_bits(self, hard: Literal[True] = ...) -> int: ...

    @overload
    def act_bits(self, hard: Literal[False]) -> torch.Tensor: ...

    def act_bits(self, hard: bool = True) -> int | torch.Tensor:
        """Input activation width W in bits (sign included): exact (``hard``), else a 0-dim tensor
        (differentiable while searching)."""
        return self.act.hard_bits() if hard else self.act.soft_bits()

    def selected_positions(self) -> list[int]:
        """The weight bit positions the hard mask selects, ascending, LSB = 0 (all N for a fixed layer)."""
        return self.weight_q.positions()

    def weight_bit_range(self) -> tuple[int, int]:
        """(fewest, most) weight bit positions the search can reach: (1, N) searched, (N, N) fixed."""
        n = self.weight_q.n_bits
        return (1 if self.searched else n), n

    def act_bit_range(self) -> tuple[int, int]:
        """(narrowest, widest) input activation width the search can reach ((W, W) for a fixed width)."""
        return self.act.min_bits, self.act.max_bits

    def selection_key(self) -> torch.Tensor:
        """Everything the layer's exact bits depend on but the activation's sign: the hard decisions (logit >= 0) of
        every weight mask and activation gate logit, a bool tensor of shape (N + max_bits - min_bits,)."""
        return torch.cat([self.weight_q.mask_logits.detach() >= 0, self.act.gate_logits.detach() >= 0])

    # --- the exact weight -----------------------------------------------------------------------------------
    @property
    def weight_step_mode(self) -> str:
        """``"pow2"`` (every weight an exact fixed-point value) or ``"float"``."""
        return self.weight_q.weight_step

    def weight_step(self) -> torch.Tensor:
        """The weight step (0-dim tensor, weight units per integer unit)."""
        return self.weight_q.step()

    def weight_step_exponent(self) -> int | None:
        """e with ``step = 2^e`` (None in ``float`` mode)."""
        return self.weight_q.step_exponent()

    def integer_weight(self) -> torch.Tensor:
        """The exact integer weight in units of the step (int64, shape ``weight_shape``)."""
        return self.weight_q.integer_weight()

    # --- parameter groups (for optimizers: no matching by name) --------------------------------------------
    def plane_parameters(self) -> list[nn.Parameter]:
        """The weight's bit-plane logits ``[p, n]`` (trained while searching)."""
        return self.weight_q.plane_parameters()

    def mask_parameters(self) -> list[nn.Parameter]:
        """The weight's mask logits and the input quantizer's gate logits (no weight decay: it would pull them to
        the threshold). Not trainable where the precision is fixed."""
        return self.weight_q.mask_parameters() + self.act.gate_parameters()

    def range_parameters(self) -> list[nn.Parameter]:
        """The input quantizer's learned range ``[rho]`` (trained in every phase; frozen for a calibrated range)."""
        return self.act.range_parameters()

    def step_parameters(self) -> list[nn.Parameter]:
        """The weight's ``log2_step``."""
        return self.weight_q.step_parameters()

    def search_parameters(self) -> list[nn.Parameter]:
        """Everything only the search trains: planes, mask and gate logits, the step."""
        return self.plane_parameters() + self.mask_parameters() + self.step_parameters()

    def finetune_parameters(self) -> list[nn.Parameter]:
        """What only the straight-through fine-tune trains: the shadow weight."""
        return self.weight_q.shadow_parameters()

    def set_plane_dtype(self, dtype: torch.dtype) -> None:
        """Store the bit planes in ``dtype`` (float32 or bfloat16); the weight is still built in float32."""
        self.weight_q.set_plane_dtype(dtype)

    def set_schedule(self, calibrating: bool, steps_frozen: bool) -> None:
        """The schedule's per-epoch state of this layer (:class:`csq_hw.train.schedule.EpochPlan`): whether the
        activation range keeps calibrating in the hard phase, and whether the weight step and learned range are
        frozen (:meth:`freeze_steps`)."""
        self.act.calibrating = calibrating
        self.freeze_steps(steps_frozen)

    def freeze_steps(self, frozen: bool) -> None:
        """Keep the fine-tune's weight step and the learned activation range where they are (``frozen``): the
        weights then train against a fixed grid (the schedule's last fine-tune epochs); ``False`` undoes it."""
        self.weight_q.step_frozen = frozen
        self.act.range_frozen = frozen

    def start_finetune(self, from_current: bool = True, step_rule: str = "search") -> None:
        """Switch the weight to the straight-through fine-tune; see :meth:`BitPlaneWeight.start_finetune`."""
        self.weight_q.start_finetune(from_current=from_current, step_rule=step_rule)

    # --- the budget repair's moves ----------------------------------------------------------------------------
    def bit_moves(self, name: str, add: bool, every_position: bool = False) -> list[BitMove]:
        """The single-bit changes the budget repair (``add=False``) or fill (``add=True``) may make here, weight
        moves first; ``name`` is the layer's module name, recorded in each move.

        Dropping: the selected weight position with the smallest mask logit (every selected position with
        ``every_position``), while more than one is selected; the activation's least significant kept bit, while
        above its minimum. Adding: the activation's next bit, and every unselected weight position while the weight
        fine-tunes straight-through shadow weights (a plane-parametrised weight never revives a position: see
        :mod:`csq_hw.train.budget`). A fixed-precision weight or activation has no moves.
        """
        out: list[BitMove] = []
        logits = self.weight_q.mask_logits.detach()
        if self.searched and not add:
            pos = self.selected_positions()
            if len(pos) > 1:
                chosen = pos if every_position else [min(pos, key=lambda p: float(logits[p]))]
                out += [BitMove(name, "weight", False, float(logits[b]), position=b) for b in chosen]
        if self.searched and add and self.is_finetuning:
            selected = set(self.selected_positions())
            out += [BitMove(name, "weight", True, float(logits[b]), position=b) for b in range(self.max_weight_bits)
                    if b not in selected]  # fmt: skip
        if self.act_searched:
            width, (lo, hi) = self.act_bits(), self.act_bit_range()
            gates = self.act.gate_logits.detach()
            if add and width < hi:
                out.append(BitMove(name, "act", True, float(gates[width - lo]), new_bits=width + 1))
            elif not add and width > lo:
                out.append(BitMove(name, "act", False, float(gates[width - lo - 1]), new_bits=width - 1))
        return out

    def _move_logit(self, move: BitMove) -> tuple[nn.Parameter, int]:
        """The logit vector and index a move sets: the weight mask at its position, or the activation gate of the
        bit added (index ``new_bits - 1 - min``) or dropped (the last kept gate, ``new_bits - min``)."""
        if move.kind == "weight":
            return self.weight_q.mask_logits, int(move.position)  # type: ignore[arg-type]
        return self.act.gate_logits, int(move.new_bits) - self.act.min_bits - int(move.add)  # type: ignore[arg-type]

    def apply_move(self, move: BitMove) -> None:
        """Make ``move`` (a move of this layer from :meth:`bit_moves`): its logit goes 1 past the threshold."""
        param, j = self._move_logit(move)
        set_logit(param, j, move.add)

    @contextmanager
    def trying(self, move: BitMove) -> Iterator[None]:
        """Apply ``move`` inside the ``with`` block and restore the logit it changed (bit for bit) afterwards."""
        param, j = self._move_logit(move)
        old = float(param.detach()[j])
        set_logit(param, j, move.add)
        try:
            yield
        finally:
            with torch.no_grad():
                param[j] = old

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
    """Set the phase (``search``, ``relaxed``, ``hard``) everywhere; see :mod:`csq_hw.quant.bitplane_weight`."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    for m in _quantizer_modules(model):
        m.phase = phase
