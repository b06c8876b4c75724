"""The CSQ weight: bit planes relaxed by a temperature, gated by a per-layer mask over bit positions.

    W = step * sum_{b=0}^{N-1} M_b * (sigmoid(T p_b) - sigmoid(T n_b)) * 2^b

(Xiao et al., DAC 2023, with the bit axis LSB-first.) ``p``, ``n``: trainable planes of shape (N, *weight_shape);
``m``: one mask logit per bit position, shape (N,); significances ``2^b`` are a buffer, never trained (the
reference code trains them, a pitfall). ``step`` is ``2^round(log2_step)`` in ``pow2`` mode (every weight an exact
fixed-point value; the rounding passes gradients straight through), or ``2^log2_step`` in ``float`` mode
(paper-faithful, not exportable).

Phases (set by the trainer through :func:`csq_hw.quant.layers.set_phase`):

* ``search``: M = sigmoid(T m), digits relaxed; gradients reach p, n, m and the step.
* ``relaxed``: M = 1[m >= 0] (precision frozen), digits relaxed: the paper's "soft model at T_final".
* ``hard``: M = 1[m >= 0]; digits hard-thresholded in the forward pass, gradients through the relaxed digits
  (straight-through), so the hard-phase model *is* the exact model while weights keep fine-tuning.

Straight-through fine-tune (``start_finetune``, the default hand-over at the ticket): from then on the weight is a
float *shadow* weight ``s`` (shape ``weight_shape``, in the weight's own units, so a learning rate means what it
means for a float model) projected onto the signed-digit values that the selected positions can hold
(:mod:`csq_hw.quant.signed_digits`), ``W = step * proj_S(s / step)`` with an identity gradient, in the ``search`` and
``hard`` phases (``relaxed``: ``s`` itself, unprojected). The exact integer weight is ``proj_S(s / step)``; the
planes are no longer used. At the hard-threshold limit T -> infinity the sigmoid gradient of a
plane vanishes unless |p| < ~1/T, so the plane parametrisation cannot fine-tune at T >= 200; the shadow can.
The plain QAT baseline is the same path from the first epoch with every position selected.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from csq_hw.quant.bitplanes import (
    hard_digits,
    hard_mask,
    int_to_planes,
    mask_span,
    planes_to_int,
    relaxed_digits,
    soft_mask,
)
from csq_hw.quant.fixed_point import ste_round
from csq_hw.quant.signed_digits import nearest_value, project, representable_values

__all__ = ["BitPlaneWeight", "PHASES", "STEP_RULES"]

PHASES = ("search", "relaxed", "hard")
STEP_RULES = ("search", "maxabs", "mse")


class BitPlaneWeight(nn.Module):
    """Bit-plane parametrisation of one weight tensor. ``forward()`` returns the weight, shape ``weight_shape``.

    Args:
        weight: float initial weight; its values are written into the planes (sign-magnitude, N bits).
        n_bits: N, the number of bit positions.
        weight_step: ``"pow2"`` (exportable) or ``"float"``.
        mask_init: initial mask logit for every position (0.0 selects all: the hard mask is ``m >= 0``).
        plane_init: magnitude of the initial plane logits (+a for a set bit, -a for an unset one).
        trainable_mask: False fixes the precision at N bits (first/last-layer policy ``fixed``).
    """

    def __init__(
        self,
        weight: torch.Tensor,
        n_bits: int = 8,
        weight_step: str = "pow2",
        mask_init: float = 0.0,
        plane_init: float = 0.5,
        trainable_mask: bool = True,
    ) -> None:
        super().__init__()
        if weight_step not in ("pow2", "float"):
            raise ValueError(f"weight_step must be 'pow2' or 'float', got {weight_step!r}")
        self.n_bits = int(n_bits)
        self.weight_step = weight_step
        self.weight_shape = tuple(weight.shape)
        w = weight.detach().to(torch.float32)
        max_abs = float(w.abs().max()) if w.numel() else 1.0
        log2_step = math.log2(max(max_abs, 1e-8) / (2**self.n_bits - 1))
        if weight_step == "pow2":
            log2_step = float(math.ceil(log2_step))
        q = torch.round(w / 2.0**log2_step).clamp(-(2**self.n_bits - 1), 2**self.n_bits - 1)
        pos, neg = int_to_planes(q, self.n_bits)  # (N, *shape) in {0, 1}
        self.pos = nn.Parameter((2 * pos - 1) * plane_init)
        self.neg = nn.Parameter((2 * neg - 1) * plane_init)
        self.mask_logits = nn.Parameter(torch.full((self.n_bits,), float(mask_init)), requires_grad=trainable_mask)
        self.log2_step = nn.Parameter(torch.tensor(log2_step))
        self.register_buffer("significance", 2.0 ** torch.arange(self.n_bits, dtype=torch.float32))
        # straight-through fine-tune: a float weight, used once ``finetuning`` is set
        self.shadow = nn.Parameter(w.clone())
        self.register_buffer("finetuning", torch.tensor(False))
        # how the fine-tune sets its step (an index into STEP_RULES; see frozen_step), refitted every forward
        self.register_buffer("step_rule", torch.tensor(0, dtype=torch.int8))
        self.temperature = 1.0
        self.phase = "search"
        self._values: dict[tuple, torch.Tensor] = {}

    # --- what the trainer and the budget read ------------------------------------------------------------------
    @property
    def searched(self) -> bool:
        """True when the bit positions are searched (trainable mask logits); False: fixed at all N positions."""
        return bool(self.mask_logits.requires_grad)

    def plane_parameters(self) -> list[nn.Parameter]:
        """The positive and negative bit-plane logits ``[p, n]``, each of shape (N, *weight_shape)."""
        return [self.pos, self.neg]

    def mask_parameters(self) -> list[nn.Parameter]:
        """``[m]``: the mask logits, shape (N,) (not trainable when the precision is fixed)."""
        return [self.mask_logits]

    def step_parameters(self) -> list[nn.Parameter]:
        """``[log2_step]``, 0-dim."""
        return [self.log2_step]

    def shadow_parameters(self) -> list[nn.Parameter]:
        """``[s]``: the straight-through fine-tune's float shadow weight, shape ``weight_shape``."""
        return [self.shadow]

    @torch.no_grad()
    def set_plane_dtype(self, dtype: torch.dtype) -> None:
        """Store the bit planes in ``dtype`` (e.g. bfloat16, to save memory; Adam states follow). The weight is
        still computed in float32 (:meth:`digits`)."""
        self.pos.data, self.neg.data = self.pos.data.to(dtype), self.neg.data.to(dtype)

    # --- pieces ---------------------------------------------------------------------------------------------
    def step(self) -> torch.Tensor:
        """Weight step (0-dim): ``2^round(log2_step)`` (pow2, straight-through) or ``2^log2_step`` (float)."""
        e = ste_round(self.log2_step) if self.weight_step == "pow2" else self.log2_step
        return torch.exp2(e)

    def step_exponent(self) -> int | None:
        """The integer exponent e of ``step = 2^e`` (None in float mode)."""
        return int(torch.floor(self.log2_step.detach() + 0.5)) if self.weight_step == "pow2" else None

    def mask(self) -> torch.Tensor:
        """Bit-position mask, shape (N,): soft in ``search``, hard {0, 1} otherwise (at least one position)."""
        if self.phase == "search" and self.searched:
            return soft_mask(self.mask_logits, self.temperature)
        if not self.searched:
            return torch.ones_like(self.mask_logits)
        return hard_mask(self.mask_logits.detach())

    def digits(self) -> torch.Tensor:
        """Signed digits, shape (N, *weight_shape): relaxed, or hard with straight-through gradients.
        Computed in float32 even when the planes are stored in a lower precision (``plane_dtype``)."""
        pos, neg = self.pos.float(), self.neg.float()
        soft = relaxed_digits(pos, neg, self.temperature)
        if self.phase != "hard":
            return soft
        return soft + (hard_digits(pos, neg) - soft).detach()

    # --- straight-through fine-tune ---------------------------------------------------------------------------
    @property
    def is_finetuning(self) -> bool:
        return bool(self.finetuning)

    def frozen_step(self) -> torch.Tensor:
        """The fine-tune's step, without a gradient, by ``step_rule``:

        * ``search``: the step the search found, kept;
        * ``maxabs``: the smallest power of two whose grid holds the largest shadow weight,
          ``2^ceil(log2(max|s| / max V))`` (per-tensor max-abs scaling, as plain QAT does);
        * ``mse``: of the max-abs exponent e0 and e0 - 1, e0 - 2, e0 - 3, the one whose projection is closest to
          the shadow weights in squared error (it clips the largest weights when that pays: at 1-2 bits the max-abs
          step rounds most weights to 0).

        A refitted exponent is written into ``log2_step`` so that ``step_exponent`` and the exact model follow.
        """
        rule = STEP_RULES[int(self.step_rule)]
        if self.is_finetuning and rule != "search":
            with torch.no_grad():
                self.log2_step.fill_(self._fitted_exponent(rule))
        e = torch.floor(self.log2_step.detach() + 0.5) if self.weight_step == "pow2" else self.log2_step.detach()
        return torch.exp2(e)

    def _fitted_exponent(self, rule: str) -> float:
        values = self.values()
        top = max(float(values[-1]), 1.0)
        s = self.shadow.detach().float()
        max_abs = max(float(s.abs().max()) if s.numel() else 0.0, 2.0**-30)
        if self.weight_step != "pow2":  # float steps: max-abs only
            return math.log2(max_abs / top)
        e0 = math.ceil(math.log2(max_abs / top))
        if rule == "maxabs":
            return float(e0)
        errors = [
            (float(((s - 2.0**e * nearest_value(s / 2.0**e, values)) ** 2).sum()), -e) for e in range(e0, e0 - 4, -1)
        ]
        return float(-min(errors)[1])  # ties: the larger step

    @torch.no_grad()
    def start_finetune(self, from_current: bool = True, step_rule: str = "search") -> None:
        """Switch to the straight-through fine-tune. ``from_current``: the shadow starts at the weight this module
        computes now (in its current phase and temperature: the soft search weight at the ticket), else it keeps
        its value (the float weight it was built from: rewind, and plain QAT). ``step_rule``: see
        :meth:`frozen_step`."""
        if step_rule not in STEP_RULES:
            raise ValueError(f"step_rule must be one of {STEP_RULES}, got {step_rule!r}")
        if from_current:
            self.shadow.copy_(self._weight().float())
        self.finetuning.fill_(True)
        self.step_rule.fill_(STEP_RULES.index(step_rule))

    def values(self) -> torch.Tensor:
        """Ascending integers the selected positions can hold (a cached float32 tensor on the shadow's device)."""
        key = (tuple(self.positions()), self.shadow.device)
        if key not in self._values:
            self._values[key] = torch.tensor(representable_values(key[0]), dtype=torch.float32, device=key[1])
        return self._values[key]

    def forward(self) -> torch.Tensor:
        device = self.pos.device.type
        if torch.is_autocast_enabled(device):  # the weight itself is built in float32 under autocast
            with torch.autocast(device, enabled=False):
                return self._weight()
        return self._weight()

    def _weight(self) -> torch.Tensor:
        if self.is_finetuning:
            s, step = self.shadow.float(), self.frozen_step()
            return s if self.phase == "relaxed" else step * project(s / step, self.values())
        coef = self.mask() * self.significance  # (N,)
        w_int = torch.tensordot(coef, self.digits(), dims=1)  # (*weight_shape)
        return self.step() * w_int

    # --- bits for the cost models ---------------------------------------------------------------------------
    def soft_bits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(position count, span) of the current mask: differentiable in ``search``, exact otherwise."""
        m = self.mask()
        return m.sum(), mask_span(m)

    def hard_bits(self) -> tuple[int, int]:
        """(position count, span) of the hard mask."""
        pos = self.positions()
        return len(pos), (pos[-1] - pos[0] + 1) if pos else 0

    def positions(self) -> list[int]:
        """Selected bit positions (hard mask), ascending, LSB = 0."""
        m = torch.ones(self.n_bits) if not self.searched else hard_mask(self.mask_logits.detach())
        return [b for b in range(self.n_bits) if m[b] > 0]

    def integer_weight(self) -> torch.Tensor:
        """Exact integer weight in units of ``2^step_exponent`` (int64, shape ``weight_shape``)."""
        if self.is_finetuning:
            with torch.no_grad():
                return nearest_value(self.shadow.float() / self.frozen_step(), self.values()).to(torch.int64)
        m = torch.zeros(self.n_bits)
        m[self.positions()] = 1.0
        with torch.no_grad():
            return planes_to_int((self.pos > 0).float(), (self.neg > 0).float(), m)

    def extra_repr(self) -> str:
        return f"shape={self.weight_shape}, n_bits={self.n_bits}, weight_step={self.weight_step!r}"
