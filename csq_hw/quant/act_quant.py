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

On a CUDA device and under ``torch.compile`` the forward pass (calibration included) reads nothing back to the
host once the signedness is known (after the first calibration batch, or after loading a state;
:attr:`ActQuant.sign_known`): the range exponent, the grid and a searched width in the hard phase are 0-dim tensors
(``torch.where``, ``frexp``, no ``.item()``), so it runs without host synchronisation and without graph breaks. In
eager mode on the CPU the same exponents are computed from Python numbers (:mod:`csq_hw.quant.host_scalars`: a host
read is free there, a 0-dim tensor operation is not), with bit-identical results.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from csq_hw.quant.fixed_point import int_range, quantize_learned_step, quantize_scaled, ste_round
from csq_hw.quant.host_scalars import ceil_log2, ema_float32, on_host
from csq_hw.quant.temperature import Tempered
from csq_hw.runtime import distributed

__all__ = ["ActQuant", "RANGE_MODES"]

#: how the range exponent r is set: from a running maximum (``calibrated``) or trained (``learned``, LSQ-style)
RANGE_MODES = ("calibrated", "learned")


class ActQuant(Tempered):
    """Quantize activations (any shape) to a calibrated fixed-point grid.

    Args:
        bits: fixed total width W (sign included), used when ``search`` is False.
        search: search the width between ``min_bits`` and ``max_bits``.
        max_bits, min_bits: the searched range.
        mask_init: initial gate logit (0.0 keeps every position: all ``max_bits``).
        momentum: running-max EMA momentum while calibrating.
        range_mode: ``calibrated`` (r from the running maximum while calibrating, frozen otherwise) or ``learned``
            (r = round(rho) with a trained rho, started at the calibrated r: see :meth:`_q_learned`).
    """

    def __init__(
        self,
        bits: int = 8,
        search: bool = False,
        max_bits: int = 8,
        min_bits: int = 2,
        mask_init: float = 0.0,
        momentum: float = 0.1,
        range_mode: str = "calibrated",
    ) -> None:
        super().__init__()
        if range_mode not in RANGE_MODES:
            raise ValueError(f"range_mode must be one of {RANGE_MODES}, got {range_mode!r}")
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
        self.learned = range_mode == "learned"
        # learned range: rho (log2 of the range); r = round(rho). Set from the running maximum by the first
        # calibration batch after construction or restart_calibration (range_pending), trained from then on
        self.log2_range = nn.Parameter(torch.tensor(0.0), requires_grad=self.learned)
        self.range_pending = self.learned
        self.phase = "search"
        self.calibrating = False  # set by the trainer: keep calibrating in the hard phase (the fine-tune)
        self.range_frozen = False  # set by the schedule: a learned range takes no gradient (the last fine-tune epochs)
        self._signed: int | None = None  # the sign bit once known (mirrors signed_flag; read from it once)

    # --- calibration ----------------------------------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        return self.phase != "search" and not self.calibrating

    @torch.no_grad()
    def restart_calibration(self) -> None:
        """Forget the running maximum (the signedness is kept): the next calibration batch sets it anew. Used when
        the fine-tune rewinds the weights, whose activations then have another range than the search's. A learned
        range restarts from the next batch's calibrated range too."""
        self.running_max.zero_()
        self.range_pending = self.learned

    @property
    def k(self) -> int:
        """Sign bit (0/1); unsigned until calibrated. A Python mirror of the ``signed_flag`` buffer (no
        synchronisation, a constant for ``torch.compile``), set by the first calibration batch and on loading."""
        return self._signed or 0

    @property
    def sign_known(self) -> bool:
        """True once the signedness is fixed (the first calibration batch, or a loaded state)."""
        return self._signed is not None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if prefix + "log2_range" not in state_dict and prefix + "running_max" in state_dict:  # before csq-hw 0.2
            calibrated = ceil_log2(float(state_dict[prefix + "running_max"]))
            state_dict[prefix + "log2_range"] = torch.tensor(float(calibrated))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._sync_sign()
        # a loaded range is the trained one, unless the state was never calibrated (a fresh model's state)
        self.range_pending = self.learned and float(self.running_max) <= 0

    def _sync_sign(self) -> None:
        flag = int(self.signed_flag)  # one host read, when the flag is set or loaded
        self._signed = flag if flag >= 0 else None

    @property
    def range_exponent(self) -> int:
        """r with values below 2^r: ``ceil(log2(running max))`` (0 before calibration), or ``round(rho)`` (half up)
        for a learned range."""
        if self.learned:
            return math.floor(float(self.log2_range.detach()) + 0.5)
        return ceil_log2(float(self.running_max))

    def range_exponent_tensor(self) -> torch.Tensor:
        """:attr:`range_exponent` as a 0-dim float32 tensor on the device, exactly: with ``running_max = m 2^e``,
        m in [0.5, 1) (``frexp``), ``ceil(log2) = e - [m == 0.5]``; ``frexp(0) = (0, 0)`` gives 0 before
        calibration."""
        mantissa, exponent = torch.frexp(self.running_max)
        return (exponent - (mantissa == 0.5).to(exponent.dtype)).to(torch.float32)

    @torch.no_grad()
    def _calibrate(self, x: torch.Tensor) -> None:
        batch_max = x.detach().abs().max()
        if batch_max.dtype != self.running_max.dtype:
            batch_max = batch_max.to(self.running_max.dtype)
        known, ddp = self._signed is not None, distributed.active()
        negative = (x < 0).any() if not known or ddp else None
        if ddp:  # under DDP: the statistics of the global batch, as one process would see them
            batch_max, negative = distributed.max_across_ranks(batch_max, negative)
        # EMA; the first batch (signedness unknown) and a zero running max (after restart_calibration) take the
        # batch maximum as it is
        ema = self.running_max * (1 - self.momentum) + self.momentum * batch_max
        fresh = self.running_max == 0
        if not known:  # the first calibration batch sets the signedness: one read-back per quantizer and run
            first = self.signed_flag < 0
            self.signed_flag.copy_(torch.where(first, negative.to(self.signed_flag.dtype), self.signed_flag))
            fresh = fresh | first
            self._sync_sign()
        self.running_max.copy_(torch.where(fresh, batch_max, ema))

    @torch.no_grad()
    def _calibrate_on_host(self, x: torch.Tensor) -> None:
        """:meth:`_calibrate` with Python numbers (CPU, eager, signedness known, one process): the same float32
        values, two tensor operations and one host read instead of ~10 0-dim tensor operations."""
        batch_max = float(x.detach().abs().max())
        running = float(self.running_max)
        self.running_max.fill_(batch_max if running == 0 else ema_float32(running, batch_max, self.momentum))

    def range_parameters(self) -> list[nn.Parameter]:
        """``[rho]``, the learned range's log2 (0-dim; not trainable for a calibrated range)."""
        return [self.log2_range]

    @torch.no_grad()
    def _start_learned_range(self) -> None:
        """rho = the calibrated r, ``ceil(log2(running max))``: the learned range starts where calibration puts it."""
        self.log2_range.fill_(float(ceil_log2(float(self.running_max))))
        self.range_pending = False

    # --- gates and bits -------------------------------------------------------------------------------------
    def gate_parameters(self) -> list[nn.Parameter]:
        """``[m]``: the gate logits, shape (max_bits - min_bits,) (empty and not trainable for a fixed width)."""
        return [self.gate_logits]

    def gates(self) -> torch.Tensor:
        """Cumulative keep-gates G_j, shape (max_bits - min_bits,): soft in ``search``, hard otherwise."""
        if not self.search:
            return self.gate_logits.new_zeros(0)
        if self.phase == "search":
            g = torch.sigmoid(self.temperature_tensor * self.gate_logits)
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
    def _q(self, x: torch.Tensor, k: int, r: torch.Tensor | int, width: int) -> torch.Tensor:
        """``q_W(x)``: W = ``width`` bits, sign bit k, range exponent r (0-dim tensor, or int on the host):
        f = W - k - r."""
        lo, hi = int_range(k, width)
        scale = 2.0 ** (width - k - r) if isinstance(r, int) else torch.exp2(width - k - r)
        return quantize_scaled(x, scale, lo, hi, ste=True)

    def _q_hard_width(self, x: torch.Tensor, k: int, r: torch.Tensor) -> torch.Tensor:
        """``q_W(x)`` at the exact searched width W (a 0-dim tensor: the hard gates are not read back)."""
        width = self._hard_width_tensor()
        hi = torch.exp2(width - k) - 1  # int_range(k, width) with a tensor width (tensor bounds: no .item())
        lo = -torch.exp2(width - 1) if k else torch.zeros_like(hi)
        return quantize_scaled(x, torch.exp2(width - k - r), lo, hi, ste=True)

    def _q_learned(self, x: torch.Tensor, k: int, width: int | torch.Tensor) -> torch.Tensor:
        """``q_W(x)`` on the learned range, with LSQ's gradient (Esser et al., ICLR 2020) for the step
        ``s = 2^(r - W + k)``, r = round(rho) straight-through: dq/ds = round(x/s) - x/s inside the range, the
        saturated code outside; scaled by ``1 / sqrt(features * hi)``. Same forward values as :meth:`_q`. ``width``:
        an int on the host, or a 0-dim tensor (the exact searched width on a device or under compile: no read-back)."""
        features = max(x[0].numel(), 1) if x.dim() else 1
        if isinstance(width, int):
            lo, hi = int_range(k, width)
            g: float | torch.Tensor = 1.0 / math.sqrt(features * max(hi, 1))
        else:
            hi = torch.exp2(width - k) - 1  # int_range(k, width) with a tensor width
            lo = -torch.exp2(width - 1) if k else torch.zeros_like(hi)
            g = torch.rsqrt(torch.clamp(hi, min=1.0) * features)
        rho = self.log2_range.detach() if self.range_frozen else self.log2_range
        rho = rho * g + (rho - rho * g).detach()  # LSQ's gradient scale, value unchanged
        step = torch.exp2(ste_round(rho) - (width - k))
        return quantize_learned_step(x, step, lo, hi)  # a power-of-two step: x / step is exact

    def _hard_width_tensor(self) -> torch.Tensor:
        """The exact searched width as a 0-dim float tensor (min_bits + leading kept gates; no read-back)."""
        return self.min_bits + (self.gate_logits.detach() >= 0).to(torch.float32).cumprod(0).sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        host = self.sign_known and on_host(x) and not distributed.active()
        if self.training and not self.frozen:
            self._calibrate_on_host(x) if host else self._calibrate(x)
        if self.learned:
            if self.range_pending and self.running_max > 0:
                self._start_learned_range()
            if self.phase == "search" and self.search:
                return self._soft_width(x, lambda width: self._q_learned(x, self.k, width))
            if not self.search or on_host(x):
                return self._q_learned(x, self.k, self.hard_bits())
            return self._q_learned(x, self.k, self._hard_width_tensor())
        k = self.k
        r = self.range_exponent if host else self.range_exponent_tensor()
        if not self.search:
            return self._q(x, k, r, self.fixed_bits)
        if self.phase != "search":
            if host:
                return self._q(x, k, r, self.hard_bits())
            return self._q_hard_width(x, k, r)  # type: ignore[arg-type]
        return self._soft_width(x, lambda width: self._q(x, k, r, width))

    def _soft_width(self, x: torch.Tensor, q) -> torch.Tensor:  # type: ignore[no-untyped-def]
        """``q_Bmin(x) + sum_j G_j (q_{Bmin+j}(x) - q_{Bmin+j-1}(x))`` with ``q(width)`` one width's quantizer."""
        gates = self.gates()
        prev = q(self.min_bits)
        out = prev
        for j in range(gates.shape[0]):  # a static loop over the searched widths
            cur = q(self.min_bits + j + 1)
            out = out + gates[j] * (cur - prev)
            prev = cur
        return out

    def extra_repr(self) -> str:
        mode = f"search {self.min_bits}..{self.max_bits}" if self.search else f"bits={self.fixed_bits}"
        return f"{mode}, k={self.k}, r={self.range_exponent}{', learned' if self.learned else ''}"
