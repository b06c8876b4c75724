"""What a CSQ layer reports about its precision: bit counts, and the single-bit moves the budget repair may make.

A :class:`BitMove` names one change of one layer's exact precision: select or drop one weight bit position, or add
or drop the least significant bit of a searched activation width. The layer lists its candidate moves
(:meth:`csq_hw.quant.layers.CSQLayer.bit_moves`) and applies them (``apply_move``, or ``trying`` to apply one and
undo it); the repair and fill in :mod:`csq_hw.train.budget` only rank them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

__all__ = ["BitMove", "MoveKind", "WeightBits", "SoftWeightBits", "set_logit"]

MoveKind = Literal["weight", "act"]


class WeightBits(NamedTuple):
    """Exact weight precision: ``count`` selected bit positions, ``span`` = highest - lowest selected + 1 (0: none)."""

    count: int
    span: int


class SoftWeightBits(NamedTuple):
    """Relaxed weight precision (0-dim tensors, differentiable in the mask logits while searching)."""

    count: torch.Tensor
    span: torch.Tensor


@dataclass(frozen=True)
class BitMove:
    """One single-bit change of a layer's exact precision.

    Attributes:
        layer: the CSQ layer's module name (as :func:`csq_hw.quant.layers.csq_layers` gives it).
        kind: ``"weight"`` (one bit position of the weight mask) or ``"act"`` (the activation width).
        add: True selects the position / adds the next less significant activation bit; False drops it.
        position: the weight bit position (LSB = 0); None for an activation move.
        new_bits: the activation width W after the move; None for a weight move.
        logit: the mask (weight) or gate (activation) logit behind the bit: how sure the search was of it.
    """

    layer: str
    kind: MoveKind
    add: bool
    logit: float
    position: int | None = None
    new_bits: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("weight", "act"):
            raise ValueError(f"kind must be 'weight' or 'act', got {self.kind!r}")
        if (self.position is None) != (self.kind == "act") or (self.new_bits is None) != (self.kind == "weight"):
            raise ValueError("a weight move has a position and no new_bits, an activation move the converse")

    @property
    def target(self) -> int:
        """The weight bit position or the activation's new width (what a repair step records)."""
        return self.position if self.kind == "weight" else self.new_bits  # type: ignore[return-value]

    @property
    def label(self) -> str:
        """``"add weight"``, ``"drop weight"``, ``"add act"`` or ``"drop act"``."""
        return ("add " if self.add else "drop ") + self.kind


def set_logit(param: torch.Tensor, j: int, on: bool) -> None:
    """Select (``on``: ``l <- max(l, 0) + 1``) or deselect (``l <- min(l, 0) - 1``) entry ``j`` of a mask/gate logit
    vector: at least 1 past the hard threshold ``l >= 0``, on the chosen side."""
    with torch.no_grad():
        param[j] = max(float(param[j]), 0.0) + 1.0 if on else min(float(param[j]), 0.0) - 1.0
