"""In eager mode on the CPU the quantizers compute their exponents from Python numbers (csq_hw.quant.host_scalars);
on CUDA and under torch.compile from 0-dim tensors. Both paths must give bit-identical values: the calibration's
running maximum, the range exponent, the quantized activations and biases, and their gradients."""

from __future__ import annotations

import math

import pytest
import torch

from csq_hw.quant.act_quant import ActQuant
from csq_hw.quant.host_scalars import ceil_log2, device_scalars, ema_float32, on_host
from csq_hw.quant.layers import CSQLinear, bias_scale_tensor


def test_on_host_is_false_inside_device_scalars():
    t = torch.zeros(1)
    assert on_host(t)
    with device_scalars():
        assert not on_host(t)
    assert on_host(t)


@pytest.mark.parametrize(
    "value, expected",
    [
        (1.0, 0),  # 2^0 exactly
        (0.5, -1),
        (3.0, 2),  # 2 < 3 <= 4
        (4.0, 2),
        (math.nextafter(4.0, 5.0), 3),  # just above a power of two: the next exponent
        (math.nextafter(4.0, 0.0), 2),
        (0.0, 0),  # not calibrated yet: frexp(0) = (0, 0)
        (2.0**-30 / 32767, -44),  # the bias quotient's floor: 2^-30 / (2^15 - 1) lies in (2^-45, 2^-44]
    ],
)
def test_ceil_log2_is_exact(value, expected):
    assert ceil_log2(value) == expected


def test_ceil_log2_equals_the_tensor_frexp_path():
    q = ActQuant()
    g = torch.Generator().manual_seed(0)
    values = torch.cat([torch.rand(200, generator=g) * 10.0 ** torch.randint(-6, 6, (200,), generator=g),
                        2.0 ** torch.arange(-20, 20, dtype=torch.float32)])  # fmt: skip
    for v in values:
        q.running_max.fill_(v)
        assert float(q.range_exponent_tensor()) == ceil_log2(float(q.running_max))


def test_ema_float32_rounds_as_tensor_arithmetic():
    g = torch.Generator().manual_seed(1)
    running = torch.rand(500, generator=g) * 7.0
    batch = torch.rand(500, generator=g) * 7.0
    for momentum in (0.1, 0.01, 0.3):
        expected = running * (1 - momentum) + momentum * batch  # what ActQuant._calibrate computes, elementwise
        got = torch.tensor([ema_float32(float(r), float(b), momentum) for r, b in zip(running, batch, strict=True)])
        assert torch.equal(got, expected)


def _trace(q: ActQuant, batches: list[torch.Tensor], device_path: bool) -> list[torch.Tensor]:
    """running_max, output and input gradient after each batch (and a restart before the last)."""
    out = []
    for j, x in enumerate(batches):
        if j == len(batches) - 1:
            q.restart_calibration()
        x = x.clone().requires_grad_()
        if device_path:
            with device_scalars():
                y = q(x)
        else:
            y = q(x)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        grads = [p.grad.clone() for p in q.parameters() if p.grad is not None]
        q.zero_grad()
        out += [q.running_max.clone(), y.detach(), x.grad, *grads]
    return out


@pytest.mark.parametrize("search, phase", [(False, "search"), (True, "search"), (True, "hard")])
@pytest.mark.parametrize("signed", [False, True])
def test_activation_quantizer_host_and_device_paths_are_bit_identical(search, phase, signed):
    g = torch.Generator().manual_seed(2)
    batches = [torch.randn(16, 12, generator=g) * s for s in (1.0, 3.0, 0.2, 2.0, 5.0)]
    batches = batches if signed else [b.abs() for b in batches]
    traces = []
    for device_path in (False, True):
        q = ActQuant(bits=6, search=search, max_bits=8, min_bits=3, mask_init=0.3)
        with torch.no_grad():
            q.gate_logits.copy_(torch.tensor([0.8, 0.2, -0.4, 0.6, 0.1])[: q.gate_logits.numel()])
        q.temperature = 2.5
        q.train()
        q.phase, q.calibrating = phase, True
        q(batches[0])  # the first calibration batch fixes the signedness (the tensor path, as in training)
        traces.append(_trace(q, batches[1:], device_path))
    assert len(traces[0]) == len(traces[1])
    for host, device in zip(*traces, strict=True):
        assert torch.equal(host, device)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 37.0, 2.0**-4 * 32767])  # the last: max|b| / 32767 = 2^-4 exactly
def test_bias_quantization_host_and_device_paths_are_bit_identical(scale):
    g = torch.Generator().manual_seed(3)
    layer = CSQLinear(torch.nn.Linear(6, 5), ActQuant(bits=8))
    with torch.no_grad():
        layer.bias.copy_(torch.randn(5, generator=g) * scale)
        if scale == 2.0**-4 * 32767:
            layer.bias[0] = scale  # max|b| exactly at a power-of-two quotient
    results = []
    for device_path in (False, True):
        layer.bias.grad = None
        with device_scalars() if device_path else torch.enable_grad():
            b_q = layer.quantized_bias()
        b_q.backward(torch.arange(5.0))
        results.append((b_q.detach(), layer.bias.grad.clone()))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert float(bias_scale_tensor(layer.bias, 16)) == 2.0 ** -layer.bias_exponent()
