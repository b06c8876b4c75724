"""Bit operations (BOPs): the simple product form and the UNIQ form with the accumulator term.

Formulas (per layer, per inference of one sample):

* simple:  BOPs = MACs * b_w * b_a                                               [BOP]
  (Bayesian Bits; the HAWQ-V3 ILP, ``Zhen-Dong/HAWQ: ILP.ipynb``, which scales a 32-bit reference as bops/4/4).
* UNIQ:    BOPs = MACs * (p * b_w * b_a + b_w + b_a + log2(n))                   [BOP]
  with n = fan-in (n_in * k^2 for a conv) and p the unpruned weight fraction (Baskin et al., UNIQ,
  arXiv:1804.10969; the public implementation ``fastmachinelearning/hawq-jet-tagging: utilities/compute_bops.py``
  puts p on the product only). ``b_w + b_a + log2(n)`` approximates the accumulator width per MAC.

Weight bits: by default ``b_w`` = ``LayerBits.weight``, the number of selected bit positions (sign not counted,
so ``--bits 6`` prices 6 * 6 per MAC). ``weight_bits="span"`` uses the span, ``count_sign=True`` adds the sign.
p = 1 while training; with exact ``weight_values`` it is the fraction of non-zero weights.

Worked example (jet tagger 16-64-32-32-5, 4,256 MACs, 6-bit weights and activations):
simple = 4,256 * 36 = 153,216; UNIQ = 1,024*(36+12+4) + 2,048*(36+12+6) + 1,024*(36+12+5) + 160*(36+12+5) = 226,592.
"""

from __future__ import annotations

import math

import torch

from .base import LayerBits, LayerGeometry, SumOverLayers, weight_width

__all__ = ["BopsCost", "UniqBopsCost"]


class BopsCost(SumOverLayers):
    """Simple BOPs ``MACs * b_w * b_a``. Smooth in the bits (a product), so exact at integers as it stands."""

    name = "bops"
    unit = "BOP"

    def __init__(self, weight_bits: str = "count", count_sign: bool = False) -> None:
        self.weight_bits = weight_bits
        self.count_sign = count_sign

    def layer_cost(self, geom: LayerGeometry, bits: LayerBits) -> torch.Tensor:
        b_w = weight_width(bits, self.weight_bits, self.count_sign)
        return geom.macs * b_w * bits.act.to(b_w.dtype)


class UniqBopsCost(SumOverLayers):
    """UNIQ BOPs ``MACs * (p * b_w * b_a + b_w + b_a + log2(fan_in))`` (p = non-zero weight fraction, 1 in training)."""

    name = "bops-uniq"
    unit = "BOP"

    def __init__(self, weight_bits: str = "count", count_sign: bool = False) -> None:
        self.weight_bits = weight_bits
        self.count_sign = count_sign

    def layer_cost(self, geom: LayerGeometry, bits: LayerBits) -> torch.Tensor:
        b_w = weight_width(bits, self.weight_bits, self.count_sign)
        b_a = bits.act.to(b_w.dtype)
        p = 1.0
        if bits.weight_values is not None and bits.weight_values.numel() > 0:
            p = float((bits.weight_values != 0).double().mean())
        return geom.macs * (p * b_w * b_a + b_w + b_a + math.log2(max(geom.fan_in, 1)))
