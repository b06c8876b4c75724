"""Per-weight bit counts of integer weights (units of the weight step), vectorised over the weight tensor.

Used by the models that price individual constant weights when exact ``LayerBits.weight_values`` are given:

* :func:`magnitude_bits`: HGQ's per-value width, ``bit_length(|v| >> tz)`` where ``tz`` is the layer's lowest
  set position (the common trailing zeros of its non-zero weights); 0 for a zero weight.
* :func:`csd_digits`: non-zero digits of the canonical signed-digit (non-adjacent) form of ``|v|``, the number of
  shifted terms a constant multiplier needs (``0b1000001``: 2; ``0b0111``: 2, as ``0b1000 - 0b0001``).
"""

from __future__ import annotations

import torch

__all__ = ["magnitude_bits", "csd_digits", "popcount"]

_MAX_BITS = 48  # weights are far narrower; float64 holds every integer below 2^53


def popcount(a: torch.Tensor) -> torch.Tensor:
    """Number of set bits of a non-negative int64 tensor (loop over bit positions, not over elements)."""
    a = a.to(torch.int64)
    out = torch.zeros_like(a)
    for k in range(_MAX_BITS + 2):
        out += (a >> k) & 1
    return out


def _as_abs_int(v: torch.Tensor) -> torch.Tensor:
    a = v.detach().to(torch.float64).round().abs()
    if bool((a >= 2.0**_MAX_BITS).any()):
        raise ValueError(f"weight values must be integers below 2^{_MAX_BITS} in units of the weight step")
    return a.to(torch.int64)


def magnitude_bits(v: torch.Tensor) -> torch.Tensor:
    """Per-weight width ``bit_length(|v| >> tz)`` (int64, shape of ``v``); ``tz`` = lowest set bit in the layer."""
    a = _as_abs_int(v)
    nz = a[a > 0]
    if nz.numel() == 0:
        return torch.zeros_like(a)
    low = nz & (-nz)  # lowest set bit of each non-zero weight
    tz = int(torch.log2(low.double()).min().round())
    a = a >> tz
    width = torch.zeros_like(a)
    for k in range(_MAX_BITS):
        width = torch.where((a >> k) > 0, k + 1, width)
    return width


def csd_digits(v: torch.Tensor) -> torch.Tensor:
    """Non-zero digits of the non-adjacent form of ``|v|`` (int64, shape of ``v``)."""
    a = _as_abs_int(v)
    # The non-zero digits of NAF(a) sit where 3a and a differ, shifted up by one: NAF(a) = ((3a) >> 1) - (a >> 1)
    # digit-wise, so the digit count is popcount(3a XOR a) (bit 0 of 3a XOR a is always 0).
    return popcount((3 * a) ^ a)
