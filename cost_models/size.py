"""Model size in bits: weight memory plus bias memory.

Formula (per layer):  size = n_weights * b_w + n_bias * b_b     [bit]

* ``b_w`` is, by default, the **number of selected bit positions** (CSQ's per-layer precision; the sign bit is
  not counted, as in CSQ and BSQ). With ``weight_bits="span"`` it is the span of the selected positions
  (max - min + 1), the width of a contiguous fixed-point magnitude holding every weight; with
  ``count_sign=True`` one sign bit per weight is added.
* ``b_b`` is the fixed bias width.

Sources: BSQ/CSQ compression ratio Comp = 32 * sum(#params) / sum(n_l * #params) (Yang et al. 2021, Xiao et al.
2023); HAWQ-V3 ILP counts params * bits (Yao et al. 2021). In a fully unrolled FPGA design weights are constants in
logic, so bits are not memory there: use the FPGA models for that.
"""

from __future__ import annotations

import torch

from .base import LayerBits, LayerGeometry, SumOverLayers

__all__ = ["SizeCost"]


class SizeCost(SumOverLayers):
    """Weight + bias memory in bits. Differentiable in ``bits.weight`` (or ``bits.weight_span``)."""

    unit = "bit"

    def __init__(self, weight_bits: str = "count", count_sign: bool = False) -> None:
        if weight_bits not in ("count", "span"):
            raise ValueError(f"weight_bits must be 'count' or 'span', got {weight_bits!r}")
        self.weight_bits = weight_bits
        self.count_sign = count_sign
        self.name = "size" if weight_bits == "count" else "size:span"

    def layer_cost(self, geom: LayerGeometry, bits: LayerBits) -> torch.Tensor:
        b_w = bits.weight if self.weight_bits == "count" else bits.span
        if self.count_sign and bits.weight_signed:
            b_w = b_w + 1.0
        return geom.n_weights * b_w + geom.n_bias * bits.bias.to(b_w.dtype)
