"""Fixed-point rounding shared by the activation quantizers and the exact model.

Glossary: k sign bit (0/1), i integer bits excluding the sign, f fractional bits, W = k + i + f.
A (k, i, f) value lies on the grid 2^-f inside [-2^i, 2^i - 2^-f] (k = 1) or [0, 2^i - 2^-f] (k = 0);
in hls4ml this is ``ap_fixed<W, k+i, AP_RND, AP_SAT>`` (``ap_ufixed<W, i, ...>`` when k = 0).
Rounding is half up (``floor(x * 2^f + 0.5)``, hls4ml ``RND``), overflow saturates (``SAT``).
"""

from __future__ import annotations

import torch

__all__ = ["inside_as_float", "int_range", "quantize_fixed", "quantize_learned_step", "quantize_scaled", "ste_round"]


def int_range(k: int, width: int) -> tuple[int, int]:
    """Integer code range of a ``width``-bit value with sign bit ``k``: signed two's complement or unsigned."""
    if k:
        return -(2 ** (width - 1)), 2 ** (width - 1) - 1
    return 0, 2**width - 1


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round half up in the forward pass, identity gradient (straight-through estimator)."""
    return x + (torch.floor(x + 0.5) - x).detach()


def _codes(x: torch.Tensor, scale, lo, hi) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    """``(y, clamp(y, lo, hi))`` with ``y = floor(x * scale + 0.5)`` (in place on the one temporary)."""
    y = (x * scale).add_(0.5).floor_()
    return y, torch.clamp(y, lo, hi)


def inside_as_float(y: torch.Tensor, clamped: torch.Tensor) -> torch.Tensor:
    """``(clamped == y)`` as 1.0 / 0.0 without a bool tensor: the codes are integers, so ``1 - |clamped - y|`` is 1
    inside the range and <= 0 outside; ``fmax(., 0)`` also maps NaN (and +-inf) to 0, as ``==`` does. (A bool would
    let the compiler's partitioner save it, 1 byte per value, as the cheapest tensor to keep for the backward.)"""
    return torch.fmax(1.0 - (clamped - y).abs(), y.new_zeros(()))


class _FixedSTE(torch.autograd.Function):
    """Round-half-up + saturate in one node; gradient passes where the value is inside the range. ``scale``, ``lo``,
    ``hi``: Python numbers or 0-dim tensors (then nothing is read back to the host).

    Eagerly the node saves the inside-the-range mask (1 byte per value). Under ``torch.compile`` it saves the input
    instead (usually saved anyway: the output of the ReLU before it) and recomputes the mask, with the same
    arithmetic, in the fused backward kernel: inductor's CPU code stores a bool tensor ~10x slower than ATen
    (``VecMask::store``; benchmarks/step_time.py), which made the compiled step slower than the eager one."""

    @staticmethod
    def forward(ctx, x, scale, lo, hi):  # type: ignore[override]
        y, clamped = _codes(x, scale, lo, hi)
        ctx.recompute = torch.compiler.is_compiling()
        if ctx.recompute:  # the bounds that are tensors go through save_for_backward, the numbers stay on ctx
            bounds = (scale, lo, hi)
            ctx.save_for_backward(x, *(v for v in bounds if torch.is_tensor(v)))
            ctx.numbers = [None if torch.is_tensor(v) else v for v in bounds]
        else:
            ctx.save_for_backward(clamped == y)  # inside the range (y is integer-valued; NaN and +-inf: outside)
        return clamped.div_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        if not ctx.recompute:
            (inside,) = ctx.saved_tensors
            return grad * inside, None, None, None
        x, *tensors = ctx.saved_tensors
        tensor_bounds = iter(tensors)
        scale, lo, hi = (next(tensor_bounds) if v is None else v for v in ctx.numbers)
        y, clamped = _codes(x, scale, lo, hi)
        return grad * inside_as_float(y, clamped), None, None, None


Bound = torch.Tensor | float | int


def quantize_scaled(x: torch.Tensor, scale: Bound, lo: Bound, hi: Bound, ste: bool = False) -> torch.Tensor:
    """``clamp(floor(x * scale + 0.5), lo, hi) / scale``: the integer codes ``lo..hi`` on the grid ``1 / scale``
    (``scale = 2^f``). ``scale``, ``lo``, ``hi`` may be 0-dim tensors (exponents that live on the device: no host
    synchronisation, no graph break). ``ste``: straight-through gradient inside the range, 0 where saturated."""
    if ste and x.requires_grad:
        return _FixedSTE.apply(x, scale, lo, hi)
    return torch.clamp(torch.floor(x * scale + 0.5), lo, hi) / scale


def quantize_fixed(x: torch.Tensor, k: int, i: int, f: int, ste: bool = False) -> torch.Tensor:
    """Quantize ``x`` to fixed point (k, i, f) with round-half-up and saturation.

    Exact for float64 inputs (and for float32 while ``x * 2^f`` stays below 2^24). With ``ste=True`` the
    rounding passes the gradient straight through inside the range and blocks it where saturated.

    Example: ``quantize_fixed(torch.tensor([0.3, 5.0]), k=0, i=2, f=2)`` gives ``[0.25, 3.75]``
    (0.3 * 4 + 0.5 = 1.7 -> 1 -> 0.25; 5.0 saturates at 2^2 - 2^-2 = 3.75).
    """
    lo, hi = int_range(k, k + i + f)
    return quantize_scaled(x, 2.0**f, lo, hi, ste)


class _LearnedStepSTE(torch.autograd.Function):
    """LSQ's quantizer (Esser et al., ICLR 2020) in one node: ``q = c * s`` with ``v = x / s``,
    ``c = floor(clamp(v, lo, hi) + 0.5)``; ``dq/dx = 1`` where ``lo <= v <= hi`` (else 0) and
    ``dq/ds = c - v`` inside, ``c`` (the saturated code) outside, summed into the 0-dim step's gradient. The
    unfused form (``v = clamp(x / s)``, ``q = (v + (floor(v + 0.5) - v).detach()) * s``) has the same values and
    gradients but builds ~8 autograd nodes per call, each keeping a tensor: 2.5x the step time on a CNN (issue 26)."""

    @staticmethod
    def forward(ctx, x, step, lo, hi):  # type: ignore[override]
        codes = torch.clamp(x / step, lo, hi).add_(0.5).floor_()
        ctx.save_for_backward(x, step, *(v for v in (lo, hi) if torch.is_tensor(v)))
        ctx.numbers = [None if torch.is_tensor(v) else v for v in (lo, hi)]
        return codes.mul_(step)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, step, *tensors = ctx.saved_tensors
        tensor_bounds = iter(tensors)
        lo, hi = (next(tensor_bounds) if v is None else v for v in ctx.numbers)
        v = x / step
        clamped = torch.clamp(v, lo, hi)
        inside = (clamped == v).to(grad.dtype)  # lo <= v <= hi (v is not integer-valued: no inside_as_float)
        codes = (clamped + 0.5).floor_()
        grad_step = (grad * (codes - v * inside)).sum()
        return grad * inside, grad_step.to(step.dtype).reshape(step.shape), None, None


def quantize_learned_step(x: torch.Tensor, step: torch.Tensor, lo: Bound, hi: Bound) -> torch.Tensor:
    """``floor(clamp(x / step, lo, hi) + 0.5) * step`` with LSQ's gradients in ``x`` and the 0-dim ``step``
    (:class:`_LearnedStepSTE`); ``lo``, ``hi``: integer codes, numbers or 0-dim tensors."""
    return _LearnedStepSTE.apply(x, step, lo, hi)
