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

The plane weight is built by one fused autograd operation (:func:`csq_hw.quant.plane_weight_fn.fused_plane_weight`:
the sigmoids are recomputed in the backward pass instead of being saved) without host synchronisation: the phase,
the fine-tune flag and the step rule are Python attributes (the buffers ``finetuning`` and ``step_rule`` carry them
through the state dict) and the temperature is a 0-dim tensor (:class:`csq_hw.quant.temperature.Tempered`), so
``torch.compile`` traces the search, relaxed and hard phases without graph breaks.
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
from csq_hw.quant.plane_weight_fn import composed_plane_weight, fused_plane_weight
from csq_hw.quant.signed_digits import nearest_value, project, representable_values
from csq_hw.quant.step_fit import fitted_exponent
from csq_hw.quant.temperature import Tempered

__all__ = ["BitPlaneWeight", "PHASES", "STEP_RULES", "soft_bits_of"]

PHASES = ("search", "relaxed", "hard")
STEP_RULES = ("search", "maxabs", "mse")


class BitPlaneWeight(Tempered):
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
        self._finetuning, self._step_rule = False, 0  # Python mirrors of the two buffers (no read-back per step)
        self.step_frozen = False  # set by the schedule: the fine-tune's last epochs keep the step they reached
        self.phase = "search"
        self._values: dict[tuple, torch.Tensor] = {}
        self._values_at: tuple[tuple, torch.Tensor] | None = None  # (mask version, values): see values()

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super()._load_from_state_dict(*args, **kwargs)
        self._finetuning, self._step_rule = bool(self.finetuning), int(self.step_rule)

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

    def mask_mode(self) -> str:
        """``"soft"`` (searching a searched layer), ``"all"`` (fixed precision) or ``"hard"``."""
        if not self.searched:
            return "all"
        return "soft" if self.phase == "search" else "hard"

    def mask(self) -> torch.Tensor:
        """Bit-position mask, shape (N,): soft in ``search``, hard {0, 1} otherwise (at least one position)."""
        mode = self.mask_mode()
        if mode == "soft":
            return soft_mask(self.mask_logits, self.temperature_tensor)
        if mode == "all":
            return torch.ones_like(self.mask_logits)
        return hard_mask(self.mask_logits.detach())

    def digits(self) -> torch.Tensor:
        """Signed digits, shape (N, *weight_shape): relaxed, or hard with straight-through gradients.
        Computed in float32 even when the planes are stored in a lower precision (``plane_dtype``)."""
        pos, neg = self.pos.float(), self.neg.float()
        soft = relaxed_digits(pos, neg, self.temperature_tensor)
        if self.phase != "hard":
            return soft
        return soft + (hard_digits(pos, neg) - soft).detach()

    # --- straight-through fine-tune ---------------------------------------------------------------------------
    @property
    def is_finetuning(self) -> bool:
        """True once :meth:`start_finetune` switched to the shadow weight (a Python mirror of ``finetuning``)."""
        return self._finetuning

    def frozen_step(self) -> torch.Tensor:
        """The fine-tune's step, without a gradient, by ``step_rule``:

        * ``search``: the step the search found, kept;
        * ``maxabs``: the smallest power of two whose grid holds the largest shadow weight,
          ``2^ceil(log2(max|s| / max V))`` (per-tensor max-abs scaling, as plain QAT does);
        * ``mse``: of the max-abs exponent e0 and e0 - 1, e0 - 2, e0 - 3, the one whose projection is closest to
          the shadow weights in squared error (it clips the largest weights when that pays: at 1-2 bits the max-abs
          step rounds most weights to 0).

        A refitted exponent is written into ``log2_step`` so that ``step_exponent`` and the exact model follow. While
        ``step_frozen`` (the schedule's last fine-tune epochs) the last refitted exponent is kept.
        """
        rule = STEP_RULES[self._step_rule]
        if self.is_finetuning and rule != "search" and not self.step_frozen:
            # refitted on the device (csq_hw.quant.step_fit): no read-back; written through a detached alias (same
            # storage and version counter), which torch.compile traces as an input mutation
            e = fitted_exponent(self.shadow, self.values(), rule, self.weight_step == "pow2")
            self.log2_step.detach().copy_(e)
        e = torch.floor(self.log2_step.detach() + 0.5) if self.weight_step == "pow2" else self.log2_step.detach()
        return torch.exp2(e)

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
        self._finetuning, self._step_rule = True, STEP_RULES.index(step_rule)

    def values(self) -> torch.Tensor:
        """Ascending integers the selected positions can hold (a cached float32 tensor on the shadow's device).
        The positions are read from the mask logits (one host read) only when those changed since the last call:
        the cache is keyed by the logits' version counter, which every in-place change (an optimizer step, a
        budget move, ``load_state_dict``) advances."""
        m = self.mask_logits
        version = (m._version, id(m), self.searched, self.shadow.device)
        if self._values_at is None or self._values_at[0] != version:
            key = (tuple(self.positions()), self.shadow.device)
            if key not in self._values:
                self._values[key] = torch.tensor(representable_values(key[0]), dtype=torch.float32, device=key[1])
            self._values_at = (version, self._values[key])
        return self._values_at[1]

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
        return fused_plane_weight(*self._plane_args(), self.temperature_tensor, **self._plane_flags())  # type: ignore[arg-type]

    def _plane_args(self) -> tuple:
        return (self.pos, self.neg, self.mask_logits, self.log2_step, self.significance)

    def _plane_flags(self) -> dict[str, object]:
        return {"mask_mode": self.mask_mode(), "hard": self.phase == "hard", "pow2": self.weight_step == "pow2"}

    def reference_weight(self) -> torch.Tensor:
        """The plane weight built by :func:`~csq_hw.quant.plane_weight_fn.composed_plane_weight`, the unfused
        composition of autograd operations the fused path replaced (same values and gradients to float32
        rounding; it saves ~12N + 4 bytes per weight for the backward pass). For tests and benchmarks."""
        return composed_plane_weight(*self._plane_args(), self.temperature, **self._plane_flags())  # type: ignore[arg-type]

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
        if not self.searched:
            return list(range(self.n_bits))
        return torch.nonzero(hard_mask(self.mask_logits.detach())).flatten().tolist()

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


def soft_bits_of(weights: list[BitPlaneWeight]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:meth:`BitPlaneWeight.soft_bits` of many weights at once, in their order: the masks of weights that share N,
    the mask mode and the device are stacked ((L, N): one sigmoid ``sigmoid(T_l m_l)`` with each weight's own
    temperature tensor, one batched :func:`mask_span`), so the per-step budget term costs a fixed number of
    operations instead of ~20 per layer. Same values as one by one; the temperatures' values are not part of the
    grouping, so a compiled step does not recompile when the schedule changes T."""
    groups: dict[tuple, list[int]] = {}
    for j, w in enumerate(weights):
        groups.setdefault((w.n_bits, w.mask_mode(), w.mask_logits.device), []).append(j)
    out: list[tuple[torch.Tensor, torch.Tensor]] = [None] * len(weights)  # type: ignore[list-item]
    for (_, mode, _), idx in groups.items():
        members = [weights[j] for j in idx]
        if mode == "soft":
            logits = torch.stack([w.mask_logits for w in members])
            temperatures = torch.stack([w.temperature_tensor for w in members]).unsqueeze(1)  # (L, 1)
            masks = soft_mask(logits, temperatures)  # type: ignore[arg-type]
        else:
            masks = torch.stack([w.mask() for w in members])
        for j, count, span in zip(idx, masks.sum(-1).unbind(), mask_span(masks).unbind(), strict=True):
            out[j] = (count, span)
    return out
