"""Bit-plane arithmetic: integers to signed-digit bit planes and back, relaxed digits and bit masks.

Glossary: N bit positions b = 0 (LSB) .. N-1 (MSB); significance 2^b. A weight is
``step * sum_b M_b * d_b * 2^b`` with a signed digit ``d_b = P_b - Q_b`` from a positive plane P and a negative
plane Q (each in {0, 1} when hard, sigmoid(T * logit) when relaxed) and a per-layer bit mask M_b.
Planes are stored with the bit axis first: shape (N, *weight_shape).
"""

from __future__ import annotations

import torch

__all__ = [
    "significances",
    "int_to_planes",
    "planes_to_int",
    "relaxed_digits",
    "hard_digits",
    "soft_mask",
    "hard_mask",
    "mask_span",
]


def significances(n_bits: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[2^0, 2^1, ..., 2^(N-1)]``, shape (N,)."""
    return 2.0 ** torch.arange(n_bits, dtype=dtype)


def int_to_planes(q: torch.Tensor, n_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sign-magnitude planes of integers ``q`` with ``|q| < 2^N``.

    Returns ``(pos, neg)`` in {0, 1}, each of shape (N, *q.shape): bit b of ``|q|`` goes into ``pos`` where
    ``q > 0`` and into ``neg`` where ``q < 0``.
    """
    q = q.to(torch.int64)
    if q.numel() and int(q.abs().max()) >= 2**n_bits:
        raise ValueError(f"|q| must be < 2^{n_bits}")
    mag = q.abs()
    bits = torch.stack([(mag >> b) & 1 for b in range(n_bits)]).to(torch.float32)  # (N, *shape)
    pos = bits * (q > 0).to(torch.float32)
    neg = bits * (q < 0).to(torch.float32)
    return pos, neg


def planes_to_int(pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``sum_b mask_b * (pos_b - neg_b) * 2^b`` for hard {0, 1} planes of shape (N, *shape); int64 result."""
    n = pos.shape[0]
    digits = pos.to(torch.int64) - neg.to(torch.int64)
    sig = torch.tensor([1 << b for b in range(n)], dtype=torch.int64)
    if mask is not None:
        sig = sig * mask.to(torch.int64)
    return torch.tensordot(sig, digits, dims=1)


def relaxed_digits(pos_logits: torch.Tensor, neg_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``sigmoid(T p) - sigmoid(T n)`` in (-1, 1), shape of the logits."""
    return torch.sigmoid(temperature * pos_logits) - torch.sigmoid(temperature * neg_logits)


def hard_digits(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> torch.Tensor:
    """``1[p > 0] - 1[n > 0]`` in {-1, 0, 1}: the T -> infinity limit of :func:`relaxed_digits`."""
    return (pos_logits > 0).to(pos_logits.dtype) - (neg_logits > 0).to(neg_logits.dtype)


def soft_mask(mask_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``sigmoid(T m)``, shape (N,)."""
    return torch.sigmoid(temperature * mask_logits)


def hard_mask(mask_logits: torch.Tensor, min_selected: int = 1) -> torch.Tensor:
    """``1[m >= 0]``, shape (N,); if fewer than ``min_selected`` positions pass, the largest logits are kept.
    Computed on the device (a ``torch.where`` instead of a branch on the count: no host synchronisation)."""
    m = (mask_logits >= 0).to(mask_logits.dtype)
    if min_selected <= 0:
        return m
    top = torch.topk(mask_logits.detach(), min_selected).indices
    return torch.where(m.sum() < min_selected, m.scatter(0, top, 1.0), m)


def mask_span(mask: torch.Tensor) -> torch.Tensor:
    """Expected span (max - min + 1) of the selected positions, treating ``mask`` entries as independent
    selection probabilities; exact (an integer) when ``mask`` is in {0, 1}. Differentiable. 0 if none selected.
    ``mask``: shape (N,), or (..., N) for several masks at once (one span per row, the same values as row by row).

    E[max + 1] = sum_b (b + 1) M_b prod_{c > b} (1 - M_c);  E[min] = sum_b b M_b prod_{c < b} (1 - M_c);
    span = E[max + 1] - E[min] (both terms are 0 when nothing is selected). With the inclusive suffix and prefix
    products A_b = prod_{c >= b} (1 - M_c), B_b = prod_{c <= b} (1 - M_c), M_b A_{b+1} = A_{b+1} - A_b and
    M_b B_{b-1} = B_{b-1} - B_b, so both sums telescope (A_N = B_{-1} = 1):

        E[max + 1] = N - sum_{b=0}^{N-1} A_b,   E[min] = sum_{b=0}^{N-2} B_b - (N - 1) B_{N-1}

    (two cumulative products and a few sums: ~10 operations, this term is priced every training step).
    Example: M = [0, 1, 0, 1, 0] (positions 1 and 3): A = [0, 0, 0, 0, 1], B = [1, 0, 0, 0, 0], so
    E[max + 1] = 5 - 1 = 4, E[min] = 1 - 4 * 0 = 1 and the span is 3.
    """
    n = mask.shape[-1]
    off = 1.0 - mask
    suffix_sum = torch.cumprod(torch.flip(off, [-1]), -1).sum(-1)  # sum_b A_b (the order of a sum does not matter)
    prefix = torch.cumprod(off, -1)  # B_b
    e_bottom = prefix[..., :-1].sum(-1) - (n - 1) * prefix[..., -1]
    return (n - suffix_sum) - e_bottom
