"""Static fixed-point activation quantizer with a power-of-two range and fixed or searched bit-width.

The quantizer sits at the input of every CSQ layer. Its range exponent r (values below 2^r) is calibrated from a
running maximum of |x| while searching and frozen from the hard phase on; it is signed (k = 1) when the first
calibration batch has negative values, unsigned otherwise (after a ReLU). For W total bits:
k = signed, i = r, f = W - k - r, and ``q_W(x) = clamp(floor(x 2^f + 0.5), lo, hi) 2^-f`` (straight-through).

Searched widths reuse CSQ's bit-position masks and temperature (beyond the paper): with gates g_j = sigmoid(T m_j)
for the positions below the ``min_bits`` most significant ones,

    x_q = q_{Bmin}(x) + sum_{j=1}^{Nmax-Bmin} G_j (q_{Bmin+j}(x) - q_{Bmin+j-1}(x)),   G_j = prod_{l <= j} g_l

so each extra LSB refines the coarser value only if every coarser refinement is kept. Soft bits
``Bmin + sum_j G_j`` are differentiable; with hard gates 1[m >= 0] they are the exact width.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from csq_hw.quant.fixed_point import quantize_fixed
from csq_hw.runtime import distributed

__all__ = ["ActQuant"]


class ActQuant(nn.Module):
    """Quantize activations (any shape) to a calibrated fixed-point grid.

    Args:
        bits: fixed total width W (sign included), used when ``search`` is False.
        search: search the width between ``min_bits`` and ``max_bits``.
        max_bits, min_bits: the searched range.
        mask_init: initial gate logit (0.0 keeps every position: all ``max_bits``).
        momentum: running-max EMA momentum while calibrating.
    """

    def __init__(
        self,
        bits: int = 8,
        search: bool = False,
        max_bits: int = 8,
        min_bits: int = 2,
        mask_init: float = 0.0,
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.search = bool(search)
        self.fixed_bits = int(bits)
        self.max_bits = int(max_bits) if search else int(bits)
        self.min_bits = int(min_bits) if search else int(bits)
        if not 1 <= self.min_bits <= self.max_bits <= 32:
            raise ValueError(
                f"activation bits must satisfy 1 <= min_bits <= max_bits <= 32, got {min_bits}..{max_bits}"
            )
        n_gates = self.max_bits - self.min_bits
        self.gate_logits = nn.Parameter(torch.full((n_gates,), float(mask_init)), requires_grad=self.search)
        self.register_buffer("running_max", torch.tensor(0.0))
        self.register_buffer("signed_flag", torch.tensor(-1, dtype=torch.int8))  # -1 unknown, 0 unsigned, 1 signed
        self.momentum = momentum
        self.temperature = 1.0
        self.phase = "search"
        self.calibrating = False  # set by the trainer: keep calibrating in the hard phase (the fine-tune)

    # --- calibration ----------------------------------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        return self.phase != "search" and not self.calibrating

    @torch.no_grad()
    def restart_calibration(self) -> None:
        """Forget the running maximum (the signedness is kept): the next calibration batch sets it anew. Used when
        the fine-tune rewinds the weights, whose activations then have another range than the search's."""
        self.running_max.zero_()

    @property
    def k(self) -> int:
        """Sign bit (0/1); unsigned until calibrated."""
        return 1 if int(self.signed_flag) == 1 else 0

    @property
    def range_exponent(self) -> int:
        """r with values below 2^r: ``ceil(log2(running max))`` (0 before calibration)."""
        rm = float(self.running_max)
        return math.ceil(math.log2(rm)) if rm > 0 else 0

    @torch.no_grad()
    def _calibrate(self, x: torch.Tensor) -> None:
        batch_max = x.detach().abs().max().to(self.running_max.dtype)
        negative = (x < 0).any() if int(self.signed_flag) < 0 or distributed.active() else None
        if distributed.active():  # under DDP: the statistics of the global batch, as one process would see them
            batch_max, negative = distributed.max_across_ranks(batch_max, negative)
        if int(self.signed_flag) < 0:
            self.signed_flag.fill_(1 if bool(negative) else 0)
            self.running_max.copy_(batch_max)
        else:  # EMA; a zero running max (after restart_calibration) takes the batch maximum as it is
            ema = self.running_max * (1 - self.momentum) + self.momentum * batch_max
            self.running_max.copy_(torch.where(self.running_max == 0, batch_max, ema))

    # --- gates and bits -------------------------------------------------------------------------------------
    def gate_parameters(self) -> list[nn.Parameter]:
        """``[m]``: the gate logits, shape (max_bits - min_bits,) (empty and not trainable for a fixed width)."""
        return [self.gate_logits]

    def gates(self) -> torch.Tensor:
        """Cumulative keep-gates G_j, shape (max_bits - min_bits,): soft in ``search``, hard otherwise."""
        if not self.search:
            return self.gate_logits.new_zeros(0)
        if self.phase == "search":
            g = torch.sigmoid(self.temperature * self.gate_logits)
        else:
            g = (self.gate_logits.detach() >= 0).to(self.gate_logits.dtype)
        return torch.cumprod(g, 0)

    def soft_bits(self) -> torch.Tensor:
        """Width W as a 0-dim tensor (differentiable in ``search``)."""
        if not self.search:
            return torch.tensor(float(self.fixed_bits), device=self.running_max.device)
        return self.min_bits + self.gates().sum()

    def hard_bits(self) -> int:
        """Exact width W: min_bits plus the number of leading kept gates."""
        if not self.search:
            return self.fixed_bits
        return self.min_bits + int((self.gate_logits.detach() >= 0).to(torch.int64).cumprod(0).sum())

    def kif(self) -> tuple[int, int, int]:
        """(k, i, f) of the exact quantizer."""
        w = self.hard_bits()
        return self.k, self.range_exponent, w - self.k - self.range_exponent

    # --- forward --------------------------------------------------------------------------------------------
    def _q(self, x: torch.Tensor, width: int) -> torch.Tensor:
        k, r = self.k, self.range_exponent
        return quantize_fixed(x, k, r, width - k - r, ste=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not self.frozen:
            self._calibrate(x)
        if not self.search or self.phase != "search":
            return self._q(x, self.hard_bits())
        gates = self.gates()
        prev = self._q(x, self.min_bits)
        out = prev
        for j in range(gates.shape[0]):
            cur = self._q(x, self.min_bits + j + 1)
            out = out + gates[j] * (cur - prev)
            prev = cur
        return out

    def extra_repr(self) -> str:
        mode = f"search {self.min_bits}..{self.max_bits}" if self.search else f"bits={self.fixed_bits}"
        return f"{mode}, k={self.k}, r={self.range_exponent}"
