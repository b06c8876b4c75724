"""Depthwise and grouped convolutions: traced geometry, and every non-latency cost model on one small conv and one
depthwise conv, hand-worked (arithmetic in the comments). The accelerator latencies of the same two layers are in
tests/test_cost_bitserial.py.

Small conv: Conv2d(2, 4, 3, padding=1, bias=False) on 2 x 4 x 4 -> 4 x 4 x 4: P = 16 positions, fan-in 2*9 = 18,
MACs 64*18 = 1,152, 4*2*9 = 72 weights, 32 inputs; real (not padding) taps per axis 2+3+3+2 = 10, so
valid MACs = 10^2 * 4 out * 2 in = 800.
Depthwise: Conv2d(4, 4, 3, padding=1, groups=4, bias=False) on 4 x 4 x 4: fan-in 9, MACs 64*9 = 576, 4*1*9 = 36
weights, 64 inputs, valid MACs = 100 * 4 * 1 = 400.
Bits: 4 weight positions (span 4 unless stated), 3 activation bits, weights signed.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cost_models import LayerBits, get_cost_model, trace_geometry
from cost_models.fpga import FpgaCost

COEFFS = {"layer": [1.0, 2.0, 3.0, 4.0], "weights": [1.0, 2.0, 3.0, 4.0]}


def conv_geometry():
    return trace_geometry(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False)), (2, 4, 4))[0]


def depthwise_geometry():
    return trace_geometry(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)), (4, 4, 4))[0]


def price(name: str, geom, w: float = 4, a: float = 3, span: float | None = None, model=None) -> float:
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    bits = {geom.name: LayerBits(t(w), t(a), t(w if span is None else span))}
    return float((model or get_cost_model(name))([geom], bits))


def test_geometry_of_conv_depthwise_and_grouped():
    c, d = conv_geometry(), depthwise_geometry()
    assert (c.groups, c.fan_in, c.macs, c.n_weights, c.n_inputs, c.valid_macs) == (1, 18, 1152, 72, 32, 800)
    assert (d.groups, d.fan_in, d.macs, d.n_weights, d.n_inputs, d.valid_macs) == (4, 9, 576, 36, 64, 400)
    # grouped, 2 groups: Conv1d(4, 6, 3, groups=2) on 4 x 10 -> 6 x 8: fan-in 4/2*3 = 6, 6*2*3 = 36 weights,
    # MACs 48 outputs * 6 = 288; no padding, so every product is valid
    g = trace_geometry(nn.Sequential(nn.Conv1d(4, 6, 3, groups=2)), (4, 10))[0]
    assert (g.groups, g.fan_in, g.n_weights, g.macs, g.valid_macs) == (2, 6, 36, 288, 288)


def test_size():
    # N_w * b_w: 72 * 4 = 288; 36 * 4 = 144 bit
    assert price("size", conv_geometry()) == 288
    assert price("size", depthwise_geometry()) == 144


def test_bops_and_uniq():
    # MACs * b_w * b_a: 1,152 * 12 = 13,824; 576 * 12 = 6,912
    assert price("bops", conv_geometry()) == 13_824
    assert price("bops", depthwise_geometry()) == 6_912
    # UNIQ: MACs * (b_w*b_a + b_w + b_a + log2 fan_in): the depthwise accumulator sums 9 products, not 4*9
    assert price("bops-uniq", conv_geometry()) == pytest.approx(1152 * (12 + 4 + 3 + math.log2(18)))
    assert price("bops-uniq", depthwise_geometry()) == pytest.approx(576 * (12 + 4 + 3 + math.log2(9)))


def test_ebops():
    # valid MACs * b_a * span: 800 * 3 * 4 = 9,600; 400 * 12 = 4,800 (no biases)
    assert price("ebops", conv_geometry()) == 9_600
    assert price("ebops", depthwise_geometry()) == 4_800


def test_energy():
    # b_wt = 4 + sign = 5, g^2 = 15: e_mul = 0.0029948*15 + 0.0010417*sqrt(15); e_add = 0.003125 * (5 + 3 + log2 n);
    # SRAM traffic (N_w*5 + n_in*3) * 10/64 pJ: conv (360 + 96) = 456 -> 71.25 pJ; depthwise (180 + 192) = 372 ->
    # 58.125 pJ
    e_mul = 0.0029948 * 15 + 0.0010417 * math.sqrt(15)
    conv = 1152 * (e_mul + 0.003125 * (8 + math.log2(18))) + 71.25
    dw = 576 * (e_mul + 0.003125 * (8 + math.log2(9))) + 58.125
    assert price("energy", conv_geometry()) == pytest.approx(conv, rel=1e-12)
    assert price("energy", depthwise_geometry()) == pytest.approx(dw, rel=1e-12)


def test_fpga_dsp_ff_bram():
    c, d = conv_geometry(), depthwise_geometry()
    # span 8 -> W_w = 9 >= tau: one DSP48 (ceil(3/27) * ceil(9/18)) per weight and kernel instance (16 positions):
    # 72 * 16 = 1,152; 36 * 16 = 576; span 4 (W_w 5) -> none
    assert price("dsp", c, 8, 3, 8) == 1152 and price("dsp", d, 8, 3, 8) == 576
    assert price("dsp", c) == 0
    # FF = n_in * b_a + inst * C * (b_a + W_w + ceil(log2 n)): conv 32*3 + 16*4*(3 + 5 + 5) = 96 + 832 = 928;
    # depthwise 64*3 + 16*4*(3 + 5 + 4) = 192 + 768 = 960
    assert price("ff", c) == 928 and price("ff", d) == 960
    # Resource RF 4: BRAM36 = ceil(N_w * W_w / (4 * 36)): ceil(360/144) = 3; ceil(180/144) = 2
    assert price("bram:resource,rf4", c) == 3 and price("bram:resource,rf4", d) == 2


def test_fpga_lut():
    c, d = conv_geometry(), depthwise_geometry()
    lut = FpgaCost("lut", coefficients=COEFFS)
    # per kernel instance (16), T = N_w * b_w terms: conv 288, depthwise 144; products c1*T*b_a + c2*T*s + c4*T:
    # conv 864 + 2*1,152 + 4*288 = 4,320, depthwise 432 + 2*576 + 4*144 = 2,160; tree c3 * C * (b_a + s + log2 n)
    # = 3 * 4 * (7 + log2 n)
    assert price("", c, model=lut) == pytest.approx(16 * (4320 + 12 * (7 + math.log2(18))))
    assert price("", d, model=lut) == pytest.approx(16 * (2160 + 12 * (7 + math.log2(9))))
    # Resource RF 4: N_w * 16 / 4 variable multipliers of 1.1 * b_a * W_w = 16.5 LUT, plus the trees:
    # conv 288 * 16.5 = 4,752; depthwise 144 * 16.5 = 2,376
    res = FpgaCost("lut", "resource", rf=4, coefficients=COEFFS)
    assert price("", c, model=res) == pytest.approx(4752 + 16 * 12 * (7 + math.log2(18)))
    assert price("", d, model=res) == pytest.approx(2376 + 16 * 12 * (7 + math.log2(9)))
