"""The CSQ weight construction as one fused autograd operation, and the unfused composition it replaces.

Notation (shapes: N bit positions, weight shape S, K = prod(S) weights):

    W = D * sum_b c_b * d_b                  (shape S, in weight units)
    c_b = M_b * 2^b                          (shape (N,): mask times significance)
    d_b = sigmoid(T p_b) - sigmoid(T n_b)    (relaxed digits, shape (N, *S)), or
    d_b = 1[p_b > 0] - 1[n_b > 0]            (hard digits, forward only: straight-through)
    M   = sigmoid(T m) ("soft"), 1[m >= 0] with at least one position ("hard", no gradient), or 1 ("all")
    D   = 2^round(l) ("pow2", straight-through rounding) or 2^l ("float"): the weight step

p, n: plane logits (N, *S), stored in float32 or bfloat16 and computed in float32; m: mask logits (N,); l: the
0-dim ``log2_step``; T: the temperature (0-dim tensor).

Backward, with G = dL/dW (shape S), P = sigmoid(T p), Q = sigmoid(T n) recomputed from the saved logits (the
parameters themselves: nothing of size N * K is kept between forward and backward) and w = sum_b c_b d_b:

    Gi      = D * G                                      dL/dw
    dL/dp_b = (T c_b Gi) (1 - P_b) P_b                   (``aten.sigmoid_backward``; T folded into the N values c_b)
    dL/dn_b = -(T c_b Gi) (1 - Q_b) Q_b
    r_b     = sum_k Gi_k d_{b,k}                         ((N, K) x (K,) product) = dL/dc_b
    dL/dm_b = T * (r_b 2^b) (1 - M_b) M_b                (soft mask only)
    dL/dl   = ln 2 * D * sum_k G_k w_k = ln 2 * sum_b c_b r_b   (from r: no second pass over the digits)

Weights and gradients agree with :func:`composed_plane_weight` (the code path before the fusion, kept as its
reference) to float32 rounding (the products are grouped differently), tested in ``tests/test_fused_plane_weight.py``.
All loops over bit positions are tensor operations over the leading axis; the backward pass makes one pass over the
(N, K) planes per output it needs (two sigmoids, the two plane gradients, the digits for r).
"""

from __future__ import annotations

import math

import torch

from csq_hw.quant.bitplanes import hard_digits, hard_mask, relaxed_digits, soft_mask
from csq_hw.quant.fixed_point import ste_round

__all__ = ["MASK_MODES", "fused_plane_weight", "composed_plane_weight"]

MASK_MODES = ("soft", "hard", "all")
_LN2 = math.log(2.0)


def _mask(mask_logits: torch.Tensor, temperature: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "soft":
        return torch.sigmoid(temperature * mask_logits)
    if mode == "hard":
        return hard_mask(mask_logits)
    return torch.ones_like(mask_logits)


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()


def _as(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return t if t.dtype == dtype else t.to(dtype)


def _bit_sum(coef: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
    """``sum_b c_b d_b``: (N,) x (N, *S) -> S, one (1, N) x (N, K) product."""
    return coef.reshape(1, -1).mm(digits.reshape(coef.shape[0], -1)).reshape(digits.shape[1:])


def _digits(pos: torch.Tensor, neg: torch.Tensor, temperature: torch.Tensor, hard: bool) -> torch.Tensor:
    """(N, *S) float32 digits: hard {-1, 0, 1} or relaxed ``sigmoid(T p) - sigmoid(T n)``."""
    if hard:
        return (pos > 0).to(torch.float32) - (neg > 0).to(torch.float32)
    return torch.sigmoid(temperature * _f32(pos)) - torch.sigmoid(temperature * _f32(neg))


class _FusedPlaneWeight(torch.autograd.Function):
    """``W = D * tensordot(c, d, 1)`` in one node; see the module docstring for the math."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        pos: torch.Tensor,
        neg: torch.Tensor,
        mask_logits: torch.Tensor,
        log2_step: torch.Tensor,
        significance: torch.Tensor,
        temperature: torch.Tensor,
        mask_mode: str,
        hard: bool,
        pow2: bool,
    ) -> torch.Tensor:
        mask = _mask(mask_logits, temperature, mask_mode)
        coef = mask * significance
        step = torch.exp2(torch.floor(log2_step + 0.5) if pow2 else log2_step)
        w_int = _bit_sum(coef, _digits(pos, neg, temperature, hard))
        # the parameters and buffers themselves (no copies) and O(N) values: nothing of the weights' size
        ctx.save_for_backward(pos, neg, mask, temperature, significance, coef, step)
        ctx.hard = hard
        ctx.soft_mask = mask_mode == "soft"
        return step * w_int

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        pos, neg, mask, t, significance, coef, step = ctx.saved_tensors
        need_p, need_n, need_m, need_l = ctx.needs_input_grad[:4]
        need_m = need_m and ctx.soft_mask
        need_digits = need_m or need_l
        gi = grad * step  # dL/dw, shape S
        gp, gn, r = _plane_grads(pos, neg, coef, t, gi, need_p, need_n, need_digits, ctx.hard)
        gm = gl = None
        if need_m:
            gm = torch.ops.aten.sigmoid_backward(r * significance, mask).mul_(t)
        if need_l:
            # sum_k G_k w_k = sum_b c_b sum_k G_k d_bk = (c . r) / D: no second pass over the digits
            gl = coef.dot(r) * _LN2
        return gp, gn, gm, gl, None, None, None, None, None


def _plane_grads(
    pos: torch.Tensor,
    neg: torch.Tensor,
    coef: torch.Tensor,
    t: torch.Tensor,
    gi: torch.Tensor,
    need_p: bool,
    need_n: bool,
    need_r: bool,
    hard: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """The backward pass's plane work with ATen operators: (dL/dp, dL/dn in the planes' dtypes, r (N,)), each None
    when not needed. ``gi``: dL/dw, shape S."""
    n_bits = coef.shape[0]
    gp = gn = r = None
    sp = torch.sigmoid(t * _f32(pos)) if need_p or (need_r and not hard) else None
    sn = torch.sigmoid(t * _f32(neg)) if need_n or (need_r and not hard) else None
    if need_p or need_n:
        # T c_b Gi (shape (N, *S)): dL/dd times the sigmoid's inner factor T, folded into the O(N) coefficients
        outer = ((coef * t).reshape(n_bits, 1) * gi.reshape(1, -1)).reshape(pos.shape)
        if need_p:
            gp = _as(torch.ops.aten.sigmoid_backward(outer, sp), pos.dtype)
        if need_n:
            gn = _as(torch.ops.aten.sigmoid_backward(outer, sn).neg_(), neg.dtype)
    if need_r:
        digits = _digits(pos, neg, t, True) if hard else sp.sub_(sn)  # the forward's digits (sp is spent)
        r = digits.reshape(n_bits, -1).mv(gi.reshape(-1))  # dL/dc_b = sum_k Gi_k d_bk, shape (N,)
    return gp, gn, r


def fused_plane_weight(
    pos: torch.Tensor,
    neg: torch.Tensor,
    mask_logits: torch.Tensor,
    log2_step: torch.Tensor,
    significance: torch.Tensor,
    temperature: torch.Tensor,
    mask_mode: str = "soft",
    hard: bool = False,
    pow2: bool = True,
) -> torch.Tensor:
    """The CSQ weight W (float32, shape S) in one autograd node (module docstring).

    Args:
        pos, neg: plane logits p, n, shape (N, *S), float32 or bfloat16 (gradients come back in their dtype).
        mask_logits: m, shape (N,). log2_step: l, 0-dim. significance: ``2^b``, shape (N,), float32.
        temperature: T, 0-dim float32 tensor (a tensor, so that a compiled graph takes it as an input).
        mask_mode: ``"soft"``, ``"hard"`` or ``"all"``. hard: hard digits in the forward pass.
        pow2: power-of-two step ``2^round(l)``; else ``2^l``.
    """
    if mask_mode not in MASK_MODES:
        raise ValueError(f"mask_mode must be one of {MASK_MODES}, got {mask_mode!r}")
    return _FusedPlaneWeight.apply(pos, neg, mask_logits, log2_step, significance, temperature, mask_mode, hard, pow2)


def composed_plane_weight(
    pos: torch.Tensor,
    neg: torch.Tensor,
    mask_logits: torch.Tensor,
    log2_step: torch.Tensor,
    significance: torch.Tensor,
    temperature: float,
    mask_mode: str = "soft",
    hard: bool = False,
    pow2: bool = True,
) -> torch.Tensor:
    """The same W composed of ordinary autograd operations: the code path before the fusion (it saves the
    sigmoids of both planes, the digits and the integer weight for the backward pass, about 12N + 4 bytes per
    weight). Kept as the reference of :func:`fused_plane_weight` for tests and benchmarks. Arguments as there,
    but ``temperature`` a Python float."""
    p, n = pos.float(), neg.float()
    soft = relaxed_digits(p, n, temperature)
    digits = soft + (hard_digits(p, n) - soft).detach() if hard else soft
    if mask_mode == "soft":
        mask = soft_mask(mask_logits, temperature)
    elif mask_mode == "hard":
        mask = hard_mask(mask_logits.detach())
    else:
        mask = torch.ones_like(mask_logits)
    coef = mask * significance
    step = torch.exp2(ste_round(log2_step) if pow2 else log2_step)
    return step * torch.tensordot(coef, digits, dims=1)
