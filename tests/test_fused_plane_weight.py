"""The fused weight construction (issue #17) equals the composed autograd path it replaced: weights and every
gradient (planes, mask logits, step) for several shapes, temperatures, mask modes, digit modes, plane dtypes and
step modes; it keeps nothing of the weights' size for the backward pass; a model trained through it matches one
trained through the composition, and its exact model is unchanged. The device-side exponents (activation range,
bias grid, fine-tune step) equal the host computations they replaced."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from csq_hw import QuantConfig, convert, csq_layers, set_phase, set_temperature, to_exact
from csq_hw.quant.act_quant import ActQuant
from csq_hw.quant.bitplane_weight import BitPlaneWeight
from csq_hw.quant.layers import bias_scale_tensor, bias_step_exponent
from csq_hw.quant.plane_weight_fn import composed_plane_weight, fused_plane_weight
from csq_hw.quant.signed_digits import nearest_value, representable_values
from csq_hw.quant.step_fit import fitted_exponent
from csq_hw.train.trainer import make_optimizer

SHAPES = [(5,), (7, 3), (4, 3, 3, 3), (2, 3, 5)]
CASES = list(itertools.product(["soft", "hard", "all"], [False, True], [torch.float32, torch.bfloat16], [True, False]))


def _close(a: torch.Tensor, b: torch.Tensor, scale: float | None = None) -> None:
    """Equal within float32 rounding, in the reference's dtype: to 1e-6 of ``scale`` (default: the reference's
    largest magnitude; for a sum taken in another grouping, the sum of its terms' magnitudes)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    scale = scale or float(b.detach().float().abs().max()) or 1.0
    torch.testing.assert_close(a.float(), b.float(), rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("temperature", [0.5, 3.0, 60.0])
@pytest.mark.parametrize("mask_mode, hard, dtype, pow2", CASES)
def test_fused_weight_and_gradients_equal_the_composition(shape, temperature, mask_mode, hard, dtype, pow2):
    n = 6
    g = torch.Generator().manual_seed(hash((shape, temperature)) % 2**31)
    pos = (torch.randn(n, *shape, generator=g) * 0.7).to(dtype).requires_grad_()
    neg = (torch.randn(n, *shape, generator=g) * 0.7).to(dtype).requires_grad_()
    mask = torch.randn(n, generator=g).requires_grad_(mask_mode != "all")
    log2_step = torch.tensor(-3.3, requires_grad=True)  # not an integer: the pow2 rounding is straight-through
    significance = 2.0 ** torch.arange(n, dtype=torch.float32)
    upstream = torch.randn(shape, generator=g)
    inputs = [pos, neg, log2_step] + ([mask] if mask.requires_grad else [])
    results = []
    for build, t in ((fused_plane_weight, torch.tensor(temperature)), (composed_plane_weight, temperature)):
        w = build(pos, neg, mask, log2_step, significance, t, mask_mode, hard, pow2)
        grads = torch.autograd.grad(w, inputs, upstream, allow_unused=True)
        results.append([w, *grads])
    # dL/dl = ln 2 * sum_k G_k W_k: the fused backward sums it as ln 2 * sum_b c_b r_b (another grouping of the same
    # products), so it agrees to float32 rounding of the terms' magnitudes, sum_k |G_k W_k| ln 2
    step_scale = float((upstream * results[1][0]).abs().sum()) * math.log(2.0)
    scales = [None, None, None, step_scale, None]
    for fused, ref, scale in zip(*results, scales, strict=False):
        if ref is None:  # hard / fixed masks: no mask gradient on either path
            assert fused is None
            continue
        _close(fused, ref, scale)


def test_fused_weight_saves_nothing_of_the_weights_size():
    n, shape = 8, (32, 16)
    pos, neg = torch.randn(n, *shape, requires_grad=True), torch.randn(n, *shape, requires_grad=True)
    mask, log2_step = torch.zeros(n, requires_grad=True), torch.tensor(-4.0, requires_grad=True)
    significance, t = 2.0 ** torch.arange(n, dtype=torch.float32), torch.tensor(2.0)
    own = {x.untyped_storage().data_ptr() for x in (pos, neg, mask, log2_step, significance, t)}

    def extra_bytes(build, temperature) -> float:
        saved: dict[int, int] = {}

        def pack(x: torch.Tensor) -> torch.Tensor:
            saved[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
            return x

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
            build(pos, neg, mask, log2_step, significance, temperature)
        return sum(v for k, v in saved.items() if k not in own)

    assert extra_bytes(fused_plane_weight, t) <= 4 * (2 * n + 1)  # mask and c_b (N each), the step: per layer
    per_weight = extra_bytes(composed_plane_weight, 2.0) / math.prod(shape)
    assert per_weight == pytest.approx(12 * n + 4, abs=0.2)  # both sigmoids, the digits, the integer weight


def _model(dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(0)
    float_model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 25, 3))
    model = convert(float_model, QuantConfig(max_bits=6, act_bits="search"))
    for _, layer in csq_layers(model):
        layer.set_plane_dtype(dtype)
    return model


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_training_through_the_fused_op_matches_the_composition_and_the_exact_model(dtype, monkeypatch):
    x, y = torch.randn(16, 2, 5, 5), torch.randint(0, 3, (16,))

    def train(model: nn.Module) -> nn.Module:
        opt = make_optimizer(model, "adam", 1e-2, 0.0)
        model.train()
        for step in range(12):
            set_temperature(model, 1.0 + step)
            set_phase(model, "search" if step < 8 else "hard")
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model

    fused = train(_model(dtype))
    with monkeypatch.context() as m:  # the same model built through the composed (pre-#17) path
        m.setattr(BitPlaneWeight, "_weight", lambda self: self.reference_weight())
        composed = train(_model(dtype))
        # the reference hook is what trained: its forward is the composition
        layer = next(iter(csq_layers(composed)))[1]
        assert torch.equal(layer.weight, layer.reference_weight())
    for (name, a), b in zip(fused.named_parameters(), composed.parameters(), strict=True):
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-5, atol=1e-6, msg=name)
    fused.eval()
    set_phase(fused, "hard")
    exact_fused, exact_composed = to_exact(fused), to_exact(composed)
    assert torch.equal(exact_fused(x), exact_composed(x))  # the exact model is unchanged
    assert torch.equal(exact_fused(x), fused(x))  # and equals the hard-phase model


def _old_fitted_exponent(s: torch.Tensor, values: torch.Tensor, rule: str, pow2: bool) -> float:
    """The host computation the device refit replaced (BitPlaneWeight._fitted_exponent before #17)."""
    top = max(float(values[-1]), 1.0)
    max_abs = max(float(s.abs().max()) if s.numel() else 0.0, 2.0**-30)
    if not pow2:
        return math.log2(max_abs / top)
    e0 = math.ceil(math.log2(max_abs / top))
    if rule == "maxabs":
        return float(e0)
    errors = [(float(((s - 2.0**e * nearest_value(s / 2.0**e, values)) ** 2).sum()), -e) for e in range(e0, e0 - 4, -1)]
    return float(-min(errors)[1])


@pytest.mark.parametrize("positions", [[0, 1, 2, 3], [1, 2], [0, 3], [5]])
@pytest.mark.parametrize("rule, pow2", [("maxabs", True), ("mse", True), ("maxabs", False)])
def test_device_step_refit_equals_the_host_computation(positions, rule, pow2):
    values = torch.tensor(representable_values(positions), dtype=torch.float32)
    g = torch.Generator().manual_seed(len(positions))
    for scale in (1e-3, 0.37, 1.0, 8.0, 700.0):
        s = torch.randn(6, 5, generator=g) * scale
        got = fitted_exponent(s, values, rule, pow2)  # written into the float32 log2_step, as the host value was
        assert float(got.float()) == float(torch.tensor(_old_fitted_exponent(s, values, rule, pow2)).float())


def test_device_exponents_equal_the_host_ones():
    g = torch.Generator().manual_seed(0)
    for j in range(500):
        b = torch.randn(7, generator=g) * 10 ** (8 * torch.rand(1, generator=g).item() - 6)
        if j % 5 == 0:  # maxima exactly on a power-of-two boundary of the grid
            b = torch.tensor([32767.0 * 2.0 ** (j % 23 - 11), 0.1])
        assert float(bias_scale_tensor(b, 16)) == 2.0 ** -bias_step_exponent(b, 16)
        q = ActQuant(bits=8)
        q.running_max.fill_(float(b.abs().max()) if j % 3 else 2.0 ** (j % 9 - 4))
        assert float(q.range_exponent_tensor()) == q.range_exponent
    assert float(ActQuant().range_exponent_tensor()) == 0.0  # not calibrated yet
