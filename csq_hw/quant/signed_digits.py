"""Signed-digit value sets and the straight-through projection onto them (the fine-tune after the ticket).

A CSQ weight with selected bit positions S (LSB = 0) is an integer ``q = sum_{b in S} d_b 2^b`` with digits
``d_b = P_b - Q_b`` in {-1, 0, +1}. The set of such integers, V(S), is what the exact model can hold in that layer:

* contiguous S = {s, ..., t}: every multiple of 2^s in [-(2^(t+1) - 2^s), 2^(t+1) - 2^s] (sign-magnitude on t - s + 1
  bits), e.g. V({0, 1}) = {-3, ..., 3};
* S with a gap: fewer values, e.g. V({0, 3}) = {-9, -8, -7, -1, 0, 1, 7, 8, 9}.

:func:`project` maps real weights (in units of the layer's step) to the nearest value of V(S) in the forward pass and
passes gradients straight through (identity), so a float "shadow" weight can be trained under a frozen precision:
standard QAT, but onto CSQ's own signed-digit grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

__all__ = ["representable_values", "project", "nearest_value"]


@lru_cache(maxsize=512)
def _values(positions: tuple[int, ...]) -> tuple[int, ...]:
    vals = {0}
    for b in positions:
        vals = {v + d * (1 << b) for v in vals for d in (-1, 0, 1)}
    return tuple(sorted(vals))


def representable_values(positions: Sequence[int]) -> list[int]:
    """V(S), ascending: every ``sum_{b in S} d_b 2^b`` with ``d_b`` in {-1, 0, 1}. ``[0]`` for an empty S."""
    return list(_values(tuple(sorted(set(int(b) for b in positions)))))


def nearest_value(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Each element of ``x`` (any shape) replaced by the nearest entry of the ascending 1-D ``values``; a tie
    (exactly half-way) goes to the larger value, like ``floor(x + 0.5)`` on a uniform grid. No gradient."""
    flat = x.detach().reshape(-1)
    hi = torch.searchsorted(values, flat).clamp(1, values.numel() - 1) if values.numel() > 1 else None
    if hi is None:
        return values.expand_as(x).clone()
    lo_v, hi_v = values[hi - 1], values[hi]
    pick_hi = (flat - lo_v) >= (hi_v - flat)
    return torch.where(pick_hi, hi_v, lo_v).reshape(x.shape)


class _Project(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return nearest_value(x, values)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return grad, None


def project(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Straight-through projection: forward ``nearest_value(x, values)``, backward the identity. ``values``:
    ascending 1-D tensor on ``x``'s device and dtype (e.g. ``representable_values(S)``)."""
    return _Project.apply(x, values)
