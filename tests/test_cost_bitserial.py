"""Bit-serial accelerator latency with the memory system (cost_models/bitserial.py): each accelerator's formula on
one small conv and one depthwise conv, hand-worked; regimes, buffer reloads, the sign plane, spec options, the
terms agreeing with the table.

Layers and bits as in tests/test_cost_grouped.py: small conv 2 -> 4, 3x3, 4 x 4 positions (M 4, K 18, N 16,
72 weights, 32 inputs, 64 outputs); depthwise 4 channels (G 4, M 1, K 9, N 16, 36 weights, 64 inputs, 64 outputs).
4 weight bits + the sign plane = pw 5, a = pa 3, batch 1. Per layer (module docstring of cost_models.bitserial):
cycles = max(compute + fill, memory); memory = (weights + inputs + outputs written at the input width) / bw;
fill = (min(M,dm)*min(K,dk)*s_w + min(K,dk)*min(N,dn)*s_a + min(M,dm)*min(N,dn)*s_o) / bw.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from cost_models import CostError, LayerBits, get_cost_model, trace_geometry
from cost_models.accelerators import accelerator_spec
from cost_models.regimes import regime_counts, regime_table


def conv_geometry():
    return trace_geometry(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False)), (2, 4, 4))[0]


def depthwise_geometry():
    return trace_geometry(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)), (4, 4, 4))[0]


def _bits(geom, w=4.0, a=3.0, signed=True):
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    return {geom.name: LayerBits(t(w), t(a), t(w), weight_signed=signed)}


def cycles(name, geom, w=4.0, a=3.0, signed=True):
    return float(get_cost_model(name)([geom], _bits(geom, w, a, signed)))


def terms(name, geom, w=4.0, a=3.0, signed=True):
    return get_cost_model(name).layer_terms([geom], _bits(geom, w, a, signed))[geom.name]


@pytest.mark.parametrize(
    "name, conv, depthwise",
    [
        # BISMO 10x256x10, 64 bit/cycle, bit-packed, lowered (im2row) inputs.
        # conv: compute ceil(4/10)*ceil(18/256)*ceil(16/10) * 5*3 = 2*15 = 30; fill (4*18*5 + 18*10*3 + 4*10*3)/64
        #   = 1,020/64 = 15.9375; memory (72*5 + 18*16*3 + 64*3)/64 = (360 + 864 + 192)/64 = 22.125 -> 45.9375
        # depthwise: 4 groups of 1 x 9 x 16: 4 * 1 * 1 * 2 * 15 = 120; fill (1*9*5 + 9*10*3 + 1*10*3)/64 = 5.390625;
        #   memory (180 + 4*9*16*3 + 192)/64 = 32.8125 -> 125.390625: half the MACs, 2.7x the cycles
        ("latency:bismo", 30 + 15.9375, 120 + 5.390625),
        # Stripes 256x16x16, 4,096 bit/cycle, 16-b words, activation-serial (pa cycles), weights parallel.
        # conv: 1 filter tile * 9 taps * ceil(2/16) * ceil(16/16) = 9 tiles * 3 = 27; fill (4*16*16 + 16*16*16 +
        #   4*16*16)/4,096 = 1.5 -> 28.5; depthwise: 4 groups * 9 taps = 36 tiles * 3 = 108; fill (1*9*16 +
        #   9*16*16 + 1*16*16)/4,096 = 0.66015625 (memory (576 + 1,024 + 1,024)/4,096 = 0.640625 below)
        ("latency:stripes", 27 + 1.5, 108 + 2704 / 4096),
        # Loom 128x16x16, 256 bit/cycle, packed: conv 9 tiles * 5*3 = 135 + fill (4*16*5 + 16*16*3 + 4*16*3)/256 = 5;
        # depthwise 36 * 15 = 540 + (1*9*5 + 9*16*3 + 1*16*3)/256 = 525/256
        ("latency:loom", 135 + 5, 540 + 525 / 256),
        # Bit Fusion 32x16x1, 192 bit/cycle: pw 5 -> floor(8/5) = 1, pa 3 -> floor(8/3) = 2: 32 input-channel lanes;
        # containers 8 b (weights), 4 b (activations). conv: ceil(4/32) * 9 * ceil(2/32) * 16 positions = 144; fill
        # (4*16*8 + 16*1*4 + 4*1*4)/192 = 592/192; depthwise: 4 * 9 * 1 * 16 = 576 (the fusion cannot help one input
        # channel per group) + (1*9*8 + 9*4 + 4)/192 = 112/192
        ("latency:bitfusion", 144 + 592 / 192, 576 + 112 / 192),
    ],
)
def test_accelerator_on_conv_and_depthwise(name, conv, depthwise):
    assert cycles(name, conv_geometry()) == pytest.approx(conv, rel=1e-12)
    assert cycles(name, depthwise_geometry()) == pytest.approx(depthwise, rel=1e-12)
    assert str(terms(name, conv_geometry()).regime) == "compute"


def test_activation_bound_when_the_interface_is_narrow():
    # bw 8: conv memory (360 + 864 + 192)/8 = 177 > compute 30 + fill 1,020/8 = 157.5 -> activation-bound, 177;
    # depthwise (180 + 1,728 + 192)/8 = 262.5 > 120 + 345/8 = 163.125 -> 262.5
    t = terms("latency:bismo,bw8", conv_geometry())
    assert (float(t.weight), float(t.activation), float(t.total), str(t.regime)) == (45, 132, 177, "activation")
    assert cycles("latency:bismo,bw8", depthwise_geometry()) == 262.5


def test_weight_bound_layer():
    # Linear(64, 32) at 6/6 (pw 7), bw 32: weights 2,048*7/32 = 448, inputs + outputs (64 + 32)*6/32 = 18;
    # compute ceil(32/10)*1*1*42 = 168 + fill (10*64*7 + 64*6 + 10*6)/32 = 153.875 = 321.875 < 466 -> weight-bound
    g = trace_geometry(nn.Sequential(nn.Linear(64, 32)), (64,))[0]
    t = terms("latency:bismo,bw32", g, 6, 6)
    assert (float(t.weight), float(t.activation), float(t.total), str(t.regime)) == (448, 18, 466, "weight")


def test_inputs_restreamed_when_neither_fits():
    # buffers 0.01 KiB: half usable = 40.96 bit. conv weights 360 bit -> 9 tiles, inputs 864 bit -> 22 tiles;
    # weights stationary moves 360 + 9*864 = 8,136 bit, inputs stationary 22*360 + 864 = 8,784: the first wins.
    # activation = (9*864 + 192)/64 = 124.5, weight 360/64 = 5.625 -> 130.125 (> 45.9375 compute + fill)
    t = terms("latency:bismo,wbuf0.01,abuf0.01", conv_geometry())
    assert (float(t.weight_loads), float(t.input_passes)) == (1, 9)
    assert float(t.total) == 130.125 and str(t.regime) == "activation"


def test_weight_tiles_reloaded_when_cheaper():
    # Linear(16, 64), batch 32, 4/3 bits, buffers 0.25 KiB (half = 1,024 bit), bw 8: weights 1,024*5 = 5,120 bit
    # (5 tiles), inputs 16*32*3 = 1,536 bit (2 tiles). Weights stationary 5,120 + 5*1,536 = 12,800; inputs stationary
    # 2*5,120 + 1,536 = 11,776: weights reloaded once per input tile. weight 10,240/8 = 1,280; activation
    # (1,536 + 64*32*3)/8 = 960; compute 7*1*4*15 = 420 + fill (10*16*5 + 16*10*3 + 10*10*3)/8 = 197.5 -> 2,240
    g = trace_geometry(nn.Sequential(nn.Linear(16, 64)), (16,))[0]
    t = terms("latency:bismo,wbuf0.25,abuf0.25,bw8,b32", g)
    assert (float(t.weight_loads), float(t.input_passes)) == (2, 1)
    assert (float(t.weight), float(t.activation), float(t.total), str(t.regime)) == (1280, 960, 2240, "weight")
    # with the default 320 KiB buffers everything fits: each crosses once
    assert (float(terms("latency:bismo,b32", g).weight_loads), float(terms("latency:bismo,b32", g).input_passes)) \
        == (1, 1)  # fmt: skip


def test_sign_plane_is_priced():
    # signed 4-bit weights run 5 planes: the same cycles as unsigned 5-bit weights, more than unsigned 4-bit ones
    c = conv_geometry()
    for name in ("latency:bismo", "latency:loom", "latency:bitfusion", "latency:stripes"):
        assert cycles(name, c, 4, 3, signed=True) == cycles(name, c, 5, 3, signed=False)
    # unsigned 4-bit weights on BISMO: compute 2 * 4*3 = 24 + fill (4*18*4 + 18*10*3 + 4*10*3)/64 = 948/64
    assert cycles("latency:bismo", c, 4, 3, signed=False) == 24 + 948 / 64
    # BISMO: (w, a) = (2, 8) is 3 x 8 = 24 plane pairs, (8, 2) is 9 x 2 = 18: no longer priced equal
    assert cycles("latency:bismo", c, 2, 8) > cycles("latency:bismo", c, 8, 2)


def test_spec_options_and_toml_table():
    m = get_cost_model("latency:bismo,dm16,dk256,dn16,bw256,b16")
    assert (m.acc.dm, m.acc.dk, m.acc.dn, m.acc.bw, m.batch) == (16, 256, 16, 256.0, 16)
    # BISMO's buffers follow the array: 16 rows * 1,024 words * 256 bit = 512 KiB
    assert m.acc.weight_buffer_bits == 16 * 1024 * 256 and m.name == "latency:bismo,dm16,dk256,dn16,bw256,b16"
    assert get_cost_model("latency:bitfusion,wbuf128,mhz250,ns").acc.weight_buffer_bits == 128 * 8192
    assert accelerator_spec({"accelerator": "bismo", "dm": 16, "bw": 256, "b": 16, "ns": True}) == \
        "latency:bismo,dm16,bw256,b16,ns"  # fmt: skip
    for spec, match in [("latency:bismo,dm2.5", r"dm must be an integer"),
                        ("latency:bismo,zz3", r"unknown option 'zz3'.*dmN"),
                        ("latency:loom,bw0", r"needs a positive number")]:  # fmt: skip
        with pytest.raises(CostError, match=match):
            get_cost_model(spec)
    with pytest.raises(CostError, match=r"unknown key 'speed'"):
        accelerator_spec({"accelerator": "bismo", "speed": 3})


def test_ns_and_output_bits():
    # ns at 300 MHz: 45.9375 * 10/3; ob32 writes 32-bit results: memory (360 + 864 + 64*32)/64 = 51.125 > 45.9375,
    # fill (4*18*5 + 18*10*3 + 4*10*32)/64 = 2,180/64 = 34.0625 -> compute 64.0625
    assert cycles("latency:bismo,ns", conv_geometry()) == pytest.approx(45.9375 * 1000 / 300)
    assert cycles("latency:bismo,ob32", conv_geometry()) == 30 + 34.0625


def test_terms_agree_with_the_table_between_integers():
    model = get_cost_model("latency:bismo,bw8,b4")
    for geom in (conv_geometry(), depthwise_geometry()):
        t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        bits = {geom.name: LayerBits(t(4.3), t(2.6), t(4.3))}
        assert float(model.layer_terms([geom], bits)[geom.name].total) == pytest.approx(
            float(model.per_layer([geom], bits)[geom.name]), rel=1e-12)  # fmt: skip


def test_regime_table_columns_and_total():
    geometry = trace_geometry(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=4),
                                            nn.Flatten(), nn.Linear(64, 10)), (2, 4, 4))  # fmt: skip
    bits = {g.name: LayerBits.uniform(4, 3) for g in geometry}
    table = regime_table("latency:bismo,bw8", geometry, bits)
    assert list(table.index) == ["0", "1", "3", "TOTAL"]
    assert table.loc["1", "groups"] == 4 and pd.isna(table.loc["TOTAL", "regime"])
    total = float(get_cost_model("latency:bismo,bw8")(geometry, bits))
    assert table.loc["TOTAL", "total [cycle]"] == pytest.approx(total)
    assert sum(regime_counts(table).values()) == 3
    with pytest.raises(CostError, match="not an accelerator latency model"):
        regime_table("bops", geometry, bits)
