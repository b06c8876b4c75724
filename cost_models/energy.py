"""ASIC energy per inference: multipliers, accumulators and memory traffic, 45 nm constants.

Per layer [pJ]:

    E = MACs * (e_mul(b_wt, b_a) + e_add(b_acc)) + (n_weights * b_wt + n_inputs * b_a) * e_mem
    e_mul(b_w, b_a) = 0.0029948 * g^2 + 0.0010417 * g,   g = sqrt(b_w * b_a)     (QKeras qtools polynomial)
    e_add(b)        = 0.003125 * b                                                (QKeras: 0.1 pJ / 32 bit)
    b_wt  = b_w + 1 (the multiplier sees the sign; b_w = LayerBits.weight, the selected positions)
    b_acc = b_wt + b_a + log2(fan_in)                                             (accumulator width)
    e_mem = 10 / 64 pJ per bit (8 KB SRAM, 64-bit read ~ 10 pJ) or 1300 / 64 = 20.3125 pJ/bit (DRAM)

Sources: Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm, 0.9 V (int8 mult 0.2 pJ, int32 mult 3.1 pJ,
int8 add 0.03 pJ, int32 add 0.1 pJ, 8 KB SRAM 64-bit ~ 10 pJ, DRAM 64-bit 1.3-2.6 nJ), as encoded in
``google/qkeras: qkeras/qtools/config_public.py`` and ``qenergy/qenergy.py`` (Apache-2.0), whose multiplier
polynomial reproduces 0.2 pJ at 8x8 and 3.1 pJ at 32x32. Memory traffic: each weight and each input activation
read once per inference (batch 1, no reuse beyond the buffer); output writes are the next layer's reads.

Relaxation: ``sqrt`` has an infinite slope at 0, so for ``g^2 = b_wt * b_a < 1`` the term ``g`` is replaced by
``g^2`` (equal at 0 and 1, continuous); everything else is polynomial, hence exact at integer bits.

Worked example (jet tagger, 6-bit weights (7 with sign) and 6-bit activations, SRAM): see docs/cost_models.md.
"""

from __future__ import annotations

import math

import torch

from .base import LayerBits, LayerGeometry, SumOverLayers

__all__ = ["EnergyCost", "E_MEM_PJ_PER_BIT"]

E_MUL_QUAD = 0.0029948  # pJ per g^2 (QKeras qtools, fitted to Horowitz 45 nm)
E_MUL_LIN = 0.0010417  # pJ per g
E_ADD_PER_BIT = 0.003125  # pJ per accumulator bit (0.1 pJ / 32 bit)
E_MEM_PJ_PER_BIT = {"sram": 10.0 / 64.0, "dram": 1300.0 / 64.0, "none": 0.0}


class EnergyCost(SumOverLayers):
    """Energy per inference in pJ, QKeras/Horowitz 45 nm constants; ``memory`` is ``sram``, ``dram`` or ``none``."""

    name = "energy"
    unit = "pJ"

    def __init__(self, memory: str = "sram") -> None:
        if memory not in E_MEM_PJ_PER_BIT:
            raise ValueError(f"memory must be one of {sorted(E_MEM_PJ_PER_BIT)}, got {memory!r}")
        self.memory = memory
        if memory != "sram":
            self.name = f"energy:{memory}"

    def layer_cost(self, geom: LayerGeometry, bits: LayerBits) -> torch.Tensor:
        b_w = bits.weight + (1.0 if bits.weight_signed else 0.0)
        b_a = bits.act.to(b_w.dtype)
        g2 = b_w * b_a
        g = torch.where(g2 < 1, g2, torch.sqrt(torch.clamp(g2, min=1.0)))
        e_mul = E_MUL_QUAD * g2 + E_MUL_LIN * g
        b_acc = b_w + b_a + math.log2(max(geom.fan_in, 1))
        e_add = E_ADD_PER_BIT * b_acc
        traffic = geom.n_weights * b_w + geom.n_inputs * b_a
        return geom.macs * (e_mul + e_add) + traffic * E_MEM_PJ_PER_BIT[self.memory]
