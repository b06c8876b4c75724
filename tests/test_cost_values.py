"""Cost models at integer bits equal hand-derived values (arithmetic in the comments).

Jet tagger MLP 16-64-32-32-5: MACs 1,024 + 2,048 + 1,024 + 160 = 4,256; weights = MACs (dense); biases 133.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cost_models import LayerBits, get_cost_model, trace_geometry, uniform_bits
from cost_models.fpga import FpgaCost


def jet_geometry():
    layers = [
        nn.Linear(16, 64),
        nn.ReLU(),
        nn.Linear(64, 32),
        nn.ReLU(),
        nn.Linear(32, 32),
        nn.ReLU(),
        nn.Linear(32, 5),
    ]
    return trace_geometry(nn.Sequential(*layers), (16,))


def total(name: str, w: float, a: float, bias: float = 0.0, geometry=None) -> float:
    geometry = geometry or jet_geometry()
    return float(get_cost_model(name)(geometry, uniform_bits(geometry, w, a, bias)))


def test_jet_geometry():
    g = jet_geometry()
    assert [x.macs for x in g] == [1024, 2048, 1024, 160]
    assert sum(x.macs for x in g) == 4256
    assert sum(x.n_bias for x in g) == 64 + 32 + 32 + 5 == 133


def test_size():
    # 4,256 weights * 6 bits + 133 biases * 10 bits = 25,536 + 1,330 = 26,866 bit
    assert total("size", 6, 6, bias=10) == 26866
    # span variant with span 8, count 6: 4,256 * 8 = 34,048
    g = jet_geometry()
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    bits = {x.name: LayerBits(t(6), t(6), weight_span=t(8)) for x in g}
    assert float(get_cost_model("size:span")(g, bits)) == 34048
    assert float(get_cost_model("size")(g, bits)) == 25536


@pytest.mark.parametrize("b, expected", [(16, 1_089_536), (8, 272_384), (6, 153_216), (4, 68_096)])
def test_bops_simple(b, expected):
    # MACs * b^2 = 4,256 * 256 / 64 / 36 / 16 (reference, section 1)
    assert total("bops", b, b) == expected == 4256 * b * b


def test_bops_uniq():
    # MACs * (b_w*b_a + b_w + b_a + log2 n), n = 16, 64, 32, 32:
    # 1,024*(36+12+4) + 2,048*(36+12+6) + 1,024*(36+12+5) + 160*(36+12+5) = 53,248 + 110,592 + 54,272 + 8,480
    assert total("bops-uniq", 6, 6) == 226_592
    # weights 4, activations 8: 1,024*(32+12+4) + 2,048*(32+12+6) + 1,024*(32+12+5) + 160*(32+12+5)
    assert total("bops-uniq", 4, 8) == 1024 * 48 + 2048 * 50 + 1024 * 49 + 160 * 49


def test_ebops_dense_and_bias():
    # dense: MACs * b_a * b_w + units * b_b = 4,256 * 6 * 6 + 133 * 10 = 153,216 + 1,330
    assert total("ebops", 6, 6, bias=10) == 154_546


def test_ebops_conv_counts_only_real_inputs():
    # 8x8 input, 3x3 kernel, padding 1: valid taps per output summed over rows = 2 + 6*3 + 2 = 22 per axis,
    # 22^2 = 484 per (in, out) channel pair; 1 * 4 channels -> 1,936 products; * 5 * 3 bits = 29,040.
    # Bias term, HGQ2's literal form: in_spatial (64) * filters (4) * b_b (2) = 512.
    g = trace_geometry(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1)), (1, 8, 8))
    assert g[0].macs == 64 * 9 * 4 and g[0].valid_macs == 1936
    assert total("ebops", 3, 5, bias=2, geometry=g) == 1936 * 15 + 512


def test_ebops_exact_weights_price_each_value():
    # one dense 2->2 layer, weights [[4, 0], [-12, 1]] in steps; layer LSB tz = 0, widths bit_length: 3, 0, 4, 1
    # -> sum 8; EBOPs = b_a (5) * 8 = 40; a zero weight costs nothing
    g = trace_geometry(nn.Sequential(nn.Linear(2, 2, bias=False)), (2,))
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    bits = {g[0].name: LayerBits(t(4), t(5), t(4), weight_values=torch.tensor([[4.0, 0.0], [-12.0, 1.0]]))}
    assert float(get_cost_model("ebops")(g, bits)) == 40


def test_energy_jet_layer0():
    # layer 0: MACs 1,024, n = 16, b_wt = 6 + sign = 7, b_a = 6.
    # e_mul = 0.0029948 * 42 + 0.0010417 * sqrt(42); e_add = 0.003125 * (7 + 6 + log2 16 = 17) = 0.053125
    # memory: (1,024 * 7 + 16 * 6) bits * 10/64 pJ = 7,264 * 0.15625 = 1,135.0
    e_mul = 0.0029948 * 42 + 0.0010417 * math.sqrt(42)
    expected = 1024 * (e_mul + 0.053125) + 1135.0
    g = jet_geometry()
    got = get_cost_model("energy").per_layer(g, uniform_bits(g, 6, 6))
    assert float(got[g[0].name]) == pytest.approx(expected, rel=1e-12)
    # QKeras anchors: e_mul(8 x 8) = 0.2 pJ (Horowitz int8 mult)
    assert 0.0029948 * 64 + 0.0010417 * 8 == pytest.approx(0.2, abs=1e-4)


# Bit-serial latency (cost_models/bitserial.py), batch 1, 6-bit weights + 1 sign plane = pw 7, activations pa 6.
# Per layer: cycles = max(compute + fill, memory); memory = (weights + inputs + outputs) bits / bw; outputs are
# written at the input width; fill = (min(M,dm)*min(K,dk)*s_w + min(K,dk)*min(N,dn)*s_a + min(M,dm)*min(N,dn)*s_o)/bw.
@pytest.mark.parametrize(
    "name, w, a, expected",
    [
        # BISMO 10x256x10, 64 bit/cycle: compute = ceil(M/10)*ceil(K/256)*ceil(1/10)*7*6 = 7*42, 4*42, 4*42, 1*42.
        # layer 0 (16->64): 294 + fill (10*16*7 + 16*6 + 10*6)/64 = 19.9375 -> 313.9375 (memory (7,168 + 96 + 384)/64
        #   = 119.5 is below); layer 1 (64->32): 168 + (10*64*7 + 64*6 + 60)/64 = 168 + 76.9375 = 244.9375 > memory
        #   (14,336 + 384 + 192)/64 = 233; layer 2: 168 + (2,240 + 192 + 60)/64 = 206.9375; layer 3 (32->5, one tile):
        #   42 + (5*32*7 + 32*6 + 5*6)/64 = 42 + 20.96875 = 62.96875. Sum 828.78125.
        ("latency:bismo", 6, 6, 313.9375 + 244.9375 + 206.9375 + 62.96875),
        # Loom 128x16x16, 256 bit/cycle, FC serial in the weights only: compute = ceil(M/128)*ceil(K/16)*1*7.
        # layer 0: 1*1*7 = 7 + fill (64*16*7 + 16*6 + 64*6)/256 = 29.875 -> 36.875 (memory 7,648/256 = 29.875);
        # layer 1: 4*7 = 28 + (32*16*7 + 96 + 192)/256 = 28 + 15.125 = 43.125 < memory (14,336 + 384 + 192)/256 = 58.25
        #   -> weight-bound 58.25; layer 2: 14 + 15.125 = 29.125 < (7,168 + 192 + 192)/256 = 29.5 -> 29.5;
        # layer 3: 14 + (5*16*7 + 96 + 30)/256 = 14 + 2.6796875 = 16.6796875 > (1,120 + 192 + 30)/256 = 5.2421875.
        ("latency:loom", 6, 6, 36.875 + 58.25 + 29.5 + 16.6796875),
        # Bit Fusion 32x16x1, 192 bit/cycle: pw 7 and pa 6 > 4: no fusion, 8-bit containers. Compute
        # ceil(M/32)*ceil(K/16) = 2, 4, 2, 2; memory (N_w*8 + in*8 + out*8)/192 = (8,192 + 128 + 512)/192 = 46,
        # (16,384 + 512 + 256)/192 = 89.333, (8,192 + 256 + 256)/192 = 45.333, (1,280 + 256 + 40)/192 = 8.2083;
        # fills (32*16*8 + 128 + 256)/192 = 23.333 (layers 0-2), (5*16*8 + 128 + 40)/192 = 4.2083 (layer 3): every
        # layer weight-bound. Sum 46 + 268/3 + 136/3 + 197/24 = 4,533/24.
        ("latency:bitfusion", 6, 6, 4533 / 24),
        # Stripes 256x16x16, 4,096 bit/cycle, 16-b containers, FC bit-parallel: compute ceil(K/16) = 1, 4, 2, 2;
        # layer 0: 1 + fill (64*16*16 + 16*16 + 64*16)/4,096 = 4.3125 -> 5.3125 (memory 17,664/4,096 = 4.3125);
        # layer 1: 4 + (32*16*16 + 256 + 512)/4,096 = 6.1875 < (32,768 + 1,024 + 512)/4,096 = 8.375 -> 8.375;
        # layer 2: 2 + 2.1875 = 4.1875 < (16,384 + 512 + 512)/4,096 = 4.25 -> 4.25;
        # layer 3: 2 + (5*16*16 + 256 + 80)/4,096 = 2.39453125 > (2,560 + 512 + 80)/4,096 = 0.76953125.
        ("latency:stripes", 6, 6, 5.3125 + 8.375 + 4.25 + 2.39453125),
    ],
)
def test_latency_models(name, w, a, expected):
    assert total(name, w, a) == pytest.approx(expected, rel=1e-12)


def test_latency_ns_and_batch():
    # BISMO at 300 MHz: 828.78125 cycles * 10/3 ns = 2,762.604 ns
    assert total("latency:bismo,ns", 6, 6) == pytest.approx(828.78125 * 1000 / 300)
    # batch 16, layer 0: ceil(16/10) = 2 column tiles: compute 7*1*2*42 = 588; fill (10*16*7 + 16*10*6 +
    # 10*10*6)/64 = 41.875; memory (7,168 + 16*16*6 + 16*64*6)/64 = 232 -> 629.875
    g = jet_geometry()
    per = get_cost_model("latency:bismo,b16").per_layer(g, uniform_bits(g, 6, 6))
    assert float(per[g[0].name]) == 588 + 41.875


def test_bitfusion_conv_fusion_factor():
    # conv 128->64, 3x3, 8x8 'same'. w1 (+ sign = 2 planes), a2: fusion floor(8/2)^2 = 16 -> 16*16 = 256 input-channel
    # lanes, 128 channels fill one pass: compute ceil(64/32) * 9 taps * ceil(128/256) * 64 positions = 1,152;
    # memory (73,728*2 + 128*64*2 + 64*64*2)/192 = 896; fill (32*16*2 + 16*2 + 32*2)/192 = 5.8333 -> 1,157.833.
    # w7 (8 planes), a8: no fusion, 16 lanes: 2 * 9 * ceil(128/16) * 64 = 9,216 + fill (32*16*8 + 16*8 + 32*8)/192
    # = 23.333 (memory (73,728*8 + 8,192*8 + 4,096*8)/192 = 3,584): 8x, not 16x: 128 channels fill half the lanes.
    g = trace_geometry(nn.Sequential(nn.Conv2d(128, 64, 3, padding=1)), (128, 8, 8))
    assert g[0].macs == 64 * 1152 * 64
    assert total("latency:bitfusion", 1, 2, geometry=g) == pytest.approx(1152 + 1120 / 192)
    assert total("latency:bitfusion", 7, 8, geometry=g) == pytest.approx(9216 + 4480 / 192)
    # conv 16->64, 3x3, 16x16 'same' at 2/2 (3 weight planes -> 4-bit mode, factor 2 * 4 = 8, 128 lanes for 16
    # channels): 2 * 9 * ceil(16/128) * 256 = 4,608 + fill (32*16*4 + 16*2 + 32*2)/192 = 11.1667; memory
    # (9,216*4 + 4,096*2 + 16,384*2)/192 = 405.33 below (was ceil(MACs/8,192) = 288 without the array's shape)
    g = trace_geometry(nn.Sequential(nn.Conv2d(16, 64, 3, padding=1)), (16, 16, 16))
    assert total("latency:bitfusion", 2, 2, geometry=g) == pytest.approx(4608 + 2144 / 192)


def test_fpga_dsp_threshold_and_bram_ff():
    # Latency RF=1, tau = 9 on W_w = span + sign: span 8 -> W 9 -> one DSP48 (ceil(8/27)*ceil(9/18)) per weight
    assert total("dsp", 8, 8) == 4256
    assert total("dsp", 7, 8) == 0
    # W = 21 > 18 and b_a = 30 > 27: 2 * 2 DSPs per product
    assert total("dsp", 20, 30) == 4 * 4256
    # Resource, RF 4: BRAM36 = ceil(N_w * W_w / (RF * 36)) = ceil(1,024*7/144) + ceil(2,048*7/144) + ... at 6 bits
    expected = sum(math.ceil(n * 7 / 144) for n in (1024, 2048, 1024, 160))  # 50 + 100 + 50 + 8
    assert total("bram:resource,rf4", 6, 6) == expected == 208
    assert total("bram", 6, 6) == 0
    # FF = n_in * b_a + C * (b_a + W_w + ceil(log2 n)): 16*6 + 64*(6+7+4) = 1,184 for layer 0
    g = jet_geometry()
    assert float(get_cost_model("ff").per_layer(g, uniform_bits(g, 6, 6))[g[0].name]) == 1184


def test_fpga_lut_formula():
    # coefficients (1, 2, 3, 4), layer 0 at 6/6: T = 1,024*6 = 6,144; T*b_a = 36,864; T*s = 36,864;
    # C*(b_a + s + log2 16) = 64*16 = 1,024; LUT = 36,864 + 2*36,864 + 3*1,024 + 4*6,144 = 138,240
    g = jet_geometry()
    coeffs = {"layer": [1.0, 2.0, 3.0, 4.0], "weights": [1.0, 2.0, 3.0, 4.0]}
    lut = FpgaCost("lut", coefficients=coeffs)
    assert float(lut.per_layer(g, uniform_bits(g, 6, 6))[g[0].name]) == 138_240
    # at span 8 (W = 9 >= tau) the products move to DSPs; the LUTs keep the tree summing the DSP outputs,
    # C * ((n - 1) * (b_a + W_w) + 2n) = 64 * (15 * (6 + 9) + 32) = 16,448, plus 3 * 64 * (6 + 8 + 4) = 3,456
    assert float(lut.per_layer(g, uniform_bits(g, 8, 6))[g[0].name]) == 16_448 + 3_456
    # the da strategy never uses DSPs
    assert float(FpgaCost("lut", "da", coefficients=coeffs).per_layer(g, uniform_bits(g, 8, 6))[g[0].name]) > 3456
