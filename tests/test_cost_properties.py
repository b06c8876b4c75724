"""Contract tests over the cost registry: 0-dim result, float64 gradcheck, monotone in bits, exact at integers."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cost_models import LayerBits, get_cost_model, trace_geometry
from cost_models.fpga import FpgaCost

COEFFS = {"layer": [0.3, 0.1, 1.0, 0.5], "weights": [0.3, 0.1, 1.0, 0.5]}  # fixed, independent of the calibration

MODELS = [
    "size", "size:span", "bops", "bops-uniq", "ebops", "energy", "energy:dram",
    "latency:stripes", "latency:loom", "latency:bismo", "latency:bitfusion", "latency:bismo,b4,ns",
    "lut", "lut:da", "lut:resource,rf4", "dsp", "dsp:resource,rf2", "ff", "bram:resource,rf4",
    "bops+0.5*lut", "bops/u8+energy/u8",
]  # fmt: skip
# LUT under the Latency strategy drops when a layer's weights cross the DSP threshold (products move to DSPs,
# hls4ml#31), so it is monotone only below the threshold; every other model is monotone everywhere.
NOT_MONOTONE_IN_SPAN = {"lut", "lut:resource,rf4", "bops+0.5*lut"}


def _model(name: str):
    m = get_cost_model(name)
    for part in [m, *(c for _, c in getattr(m, "terms", []))]:
        if isinstance(part, FpgaCost):
            part.coefficients = COEFFS
        inner = getattr(part, "cost", None)
        if isinstance(inner, FpgaCost):
            inner.coefficients = COEFFS
    return m


def _geometry():
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 5))
    return trace_geometry(net, (1, 6, 6))


def _bits(geometry, w, a, s):
    return {g.name: LayerBits(weight=w[i], act=a[i], weight_span=s[i]) for i, g in enumerate(geometry)}


@pytest.mark.parametrize("name", MODELS)
def test_gradcheck_float64(name):
    geometry = _geometry()
    model = _model(name)
    # non-integer points, two on either side of the DSP threshold (span 7.4 -> W 8.4, tau 9)
    w = torch.tensor([5.3, 3.6], dtype=torch.float64, requires_grad=True)
    a = torch.tensor([6.7, 4.2], dtype=torch.float64, requires_grad=True)
    s = torch.tensor([7.4, 9.45], dtype=torch.float64, requires_grad=True)

    def f(w, a, s):
        ws, as_, ss = w.unbind(), a.unbind(), s.unbind()
        return model(geometry, _bits(geometry, ws, as_, ss))

    out = f(w, a, s)
    assert out.dim() == 0
    assert torch.autograd.gradcheck(f, (w, a, s), eps=1e-6, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_float32_scalar_bits_with_grad(name):
    # what the trainer passes: 0-dim float32 tensors requiring grad
    geometry = _geometry()
    model = _model(name)
    params = [torch.tensor(v, requires_grad=True) for v in (4.5, 6.0, 5.0)]
    bits = {g.name: LayerBits(params[0], params[1], params[2]) for g in geometry}
    out = model(geometry, bits)
    out.backward()
    assert out.dim() == 0 and torch.isfinite(out)
    # not every model depends on every width (energy ignores the span, size the activations)
    assert any(p.grad is not None for p in params)
    assert all(torch.isfinite(p.grad) for p in params if p.grad is not None)


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=12, deadline=None)
@given(
    w=st.floats(0.5, 12.0),
    a=st.floats(1.0, 12.0),
    extra=st.floats(0.0, 3.0),
    dw=st.floats(0.0, 4.0),
    da=st.floats(0.0, 4.0),
    ds=st.floats(0.0, 4.0),
)
def test_monotone_in_bits(name, w, a, extra, dw, da, ds):
    geometry = _geometry()
    model = _model(name)
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    s = w + extra
    if name in NOT_MONOTONE_IN_SPAN:
        s, ds = min(s, 6.9), min(ds, max(0.0, 6.9 - min(s, 6.9)))  # stay below the DSP threshold (W < 8)
    lo = model(geometry, {g.name: LayerBits(t(w), t(a), t(s)) for g in geometry})
    hi = model(geometry, {g.name: LayerBits(t(w + dw), t(a + da), t(s + ds)) for g in geometry})
    assert float(hi) >= float(lo) - 1e-9 * max(1.0, abs(float(lo)))


@pytest.mark.parametrize("name", ["latency:bismo", "dsp", "bram:resource,rf4", "latency:bitfusion"])
def test_relaxation_exact_at_integers_and_linear_between(name):
    geometry = _geometry()
    model = _model(name)
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731

    def c(w, a):
        return float(model(geometry, {g.name: LayerBits(t(w), t(a), t(w)) for g in geometry}))

    # midpoint of a cell = mean of its corners (bilinear), and the corner values are the integer formula's
    assert c(8.5, 6.0) == pytest.approx((c(8, 6) + c(9, 6)) / 2)
    assert c(3.5, 2.5) == pytest.approx((c(3, 2) + c(4, 2) + c(3, 3) + c(4, 3)) / 4)


def test_lut_changes_regime_at_dsp_threshold():
    # documented non-monotonicity: span 8 (W 9) sends the products to DSPs; the DSP count jumps from 0
    geometry = _geometry()
    lut, dsp = _model("lut"), _model("dsp")
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    below = {g.name: LayerBits(t(7), t(6), t(7)) for g in geometry}
    above = {g.name: LayerBits(t(8), t(6), t(8)) for g in geometry}
    assert float(dsp(geometry, below)) == 0 and float(dsp(geometry, above)) > 0
    assert float(lut(geometry, above)) != float(lut(geometry, below))


def _grouped_geometry():
    # a conv, a depthwise conv (groups = channels), a grouped conv (2 groups) and a dense layer
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=4),
                        nn.Conv2d(4, 6, 1, groups=2), nn.Flatten(), nn.Linear(6 * 5 * 5, 3))  # fmt: skip
    return trace_geometry(net, (2, 5, 5))


@pytest.mark.parametrize("name", MODELS)
def test_contract_on_depthwise_and_grouped_layers(name):
    # gradcheck at non-integer bits, and monotone: one more bit in every width never lowers the cost
    geometry = _grouped_geometry()
    assert [g.groups for g in geometry] == [1, 4, 2, 1]
    model = _model(name)
    w = torch.tensor([5.3, 3.6, 4.4, 2.7], dtype=torch.float64, requires_grad=True)
    a = torch.tensor([6.7, 4.2, 3.3, 5.5], dtype=torch.float64, requires_grad=True)
    s = torch.tensor([5.4, 6.45, 4.6, 3.1], dtype=torch.float64, requires_grad=True)

    def f(w, a, s):
        return model(geometry, _bits(geometry, w.unbind(), a.unbind(), s.unbind()))

    assert torch.autograd.gradcheck(f, (w, a, s), eps=1e-6, atol=1e-5, rtol=1e-5)
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    for lo_bits in [(2, 3, 2), (4, 4, 5), (5, 6, 6)]:
        lo = model(geometry, {g.name: LayerBits(t(lo_bits[0]), t(lo_bits[1]), t(lo_bits[2])) for g in geometry})
        hi = model(geometry, {g.name: LayerBits(t(lo_bits[0] + 1), t(lo_bits[1] + 1), t(lo_bits[2] + 1))
                              for g in geometry})  # fmt: skip
        if name not in NOT_MONOTONE_IN_SPAN:
            assert float(hi) >= float(lo), lo_bits
