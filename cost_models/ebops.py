"""EBOPs ("effective bit operations") as HGQ2 defines them, so results compare with HGQ2 on its own metric.

HGQ2 (``calad0i/HGQ2``, LGPL-3.0; re-derived, not vendored): ``src/hgq/layers/core/dense.py`` and ``conv.py``::

    dense: EBOPs = sum(matmul(bits_in, bits_kernel)) + mean(bits_bias) * units
    conv:  EBOPs = sum(conv(bits_in, bits_kernel)) * PF / n_parallel + mean(bits_bias) * prod(in_spatial) * filters

with ``PF = n_parallel`` by default (every output position instantiated), weight bits ``relu(i + f)`` (the sign is
*not* counted: HGQ2 kernels use WRAP overflow, so ``bits = b``) and input bits ``k + i + f`` (SAT overflow adds
the sign). A padded input has 0 bits, so only products on real inputs count (``LayerGeometry.valid_macs``).

In our terms, per layer [BOP]:

    EBOPs = valid_macs * b_a * b_w + n_bias_positions * b_b
    b_w = LayerBits.span (training: the width of the contiguous fixed-point magnitude, HGQ's i + f)
    n_bias_positions = out_features (linear) or in_spatial * out_channels (conv, HGQ2's literal formula)

With exact ``weight_values`` each weight is priced with its own width (HGQ's post-training per-value bits:
``bit_length(|v| >> tz)``, tz = the layer's lowest set position; a zero weight costs 0), i.e.
``EBOPs = b_a * (valid_macs / n_weights) * sum_ij width_ij + n_bias_positions * b_b``.
HGQ2 scales by ``parallelization_factor / n_parallel``; ``parallel`` < 1 here does the same.

Worked example (jet tagger, 4,256 MACs, 6-bit weights and activations, no biases): 4,256 * 6 * 6 = 153,216,
equal to simple BOPs for dense layers at uniform bits.
"""

from __future__ import annotations

import math

import torch

from .base import LayerBits, LayerGeometry, SumOverLayers
from .weight_digits import magnitude_bits

__all__ = ["EbopsCost"]


class EbopsCost(SumOverLayers):
    """HGQ2 EBOPs. Smooth in ``bits.act`` and ``bits.span`` (products), so exact at integer bits as it stands."""

    name = "ebops"
    unit = "BOP"

    def __init__(self, parallel: float = 1.0) -> None:
        self.parallel = parallel

    def layer_cost(self, geom: LayerGeometry, bits: LayerBits) -> torch.Tensor:
        b_a = bits.act
        if bits.weight_values is not None:
            width_sum = float(magnitude_bits(bits.weight_values).sum())
            prod = b_a * (geom.n_valid_macs / max(geom.n_weights, 1)) * width_sum
        else:
            prod = geom.n_valid_macs * b_a * bits.span.to(b_a.dtype)
        if geom.op == "linear":
            n_bias = geom.n_bias
        else:
            n_bias = math.prod(geom.in_shape[1:]) * geom.out_channels if geom.n_bias else 0
        return self.parallel * prod + n_bias * bits.bias.to(prod.dtype)
