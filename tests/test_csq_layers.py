"""CSQ layers: hard mode equals plain torch layers exactly; gradients reach planes, masks and steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from csq_hw import QuantConfig, convert, csq_layers, set_phase, set_temperature, to_exact
from csq_hw.quant.act_quant import ActQuant
from csq_hw.quant.fixed_point import quantize_fixed


def _calibrated(model, x):
    model.train()
    model(x)  # first batch calibrates the activation ranges
    return model


@pytest.mark.parametrize(
    "layer, shape",
    [
        (nn.Linear(12, 5), (7, 12)),
        (nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 11)),
        (nn.Conv2d(2, 3, 3, padding=1), (2, 2, 6, 6)),
    ],  # fmt: skip
)
def test_hard_layer_equals_plain_layer_with_dequantized_weight(layer, shape):
    x = torch.randn(shape)
    model = _calibrated(convert(nn.Sequential(layer), QuantConfig(max_bits=6, act_bits=6)), x)
    ((_, csq),) = csq_layers(model)
    set_phase(model, "hard")
    model.eval()
    e = csq.weight_q.step_exponent()
    w = csq.weight_q.integer_weight().to(torch.float32) * 2.0**e  # int * 2^e, exact in float32
    b = csq.quantized_bias()
    k, i, f = csq.act.kif()
    xq = quantize_fixed(x, k, i, f)
    ref = {nn.Linear: lambda: F.linear(xq, w, b), nn.Conv1d: lambda: F.conv1d(xq, w, b, 2, 1),
           nn.Conv2d: lambda: F.conv2d(xq, w, b, 1, 1)}[type(layer)]()  # fmt: skip
    assert torch.equal(model(x), ref)
    # the exact model (plain torch modules) computes the same thing
    assert torch.equal(to_exact(model)(x), ref)
    # every weight is on the 2^e grid and uses only the selected positions
    assert torch.equal(torch.round(w / 2.0**e) * 2.0**e, w)


def test_gradients_reach_bit_planes_masks_steps_and_act_gates():
    model = convert(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)), QuantConfig(act_bits="search"))
    set_temperature(model, 2.0)
    x = torch.randn(16, 6)
    model.train()
    model(x).square().sum().backward()
    for name, layer in csq_layers(model):
        wq = layer.weight_q
        for pname, p in [("pos", wq.pos), ("neg", wq.neg), ("mask", wq.mask_logits), ("step", wq.log2_step)]:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}.{pname} got no gradient"
    # the second layer's activation gates see the task gradient
    assert csq_layers(model).__next__()[1].bias.grad is not None
    gates = list(csq_layers(model))[1][1].act.gate_logits
    assert gates.grad is not None and gates.grad.abs().sum() > 0


def test_hard_phase_blocks_mask_gradients():
    model = convert(nn.Sequential(nn.Linear(6, 4)), QuantConfig())
    set_phase(model, "hard")
    model(torch.randn(3, 6)).sum().backward()
    ((_, layer),) = csq_layers(model)
    assert layer.weight_q.mask_logits.grad is None
    assert layer.weight_q.pos.grad is not None  # weights keep fine-tuning (straight-through)


def test_act_quant_searched_width_and_signedness():
    q = ActQuant(search=True, max_bits=6, min_bits=2)
    q.train()
    q(torch.tensor([-3.0, 1.0, 2.5]))  # negative values: signed; max |x| = 3 -> r = ceil(log2 3) = 2
    assert (q.k, q.range_exponent) == (1, 2)
    with torch.no_grad():
        q.gate_logits.copy_(torch.tensor([1.0, 1.0, -1.0, 1.0]))  # third gate off: 2 + 2 = 4 bits
    assert q.hard_bits() == 4
    assert q.kif() == (1, 2, 1)  # W = 4 = k + i + f -> f = 1
    q.phase = "hard"
    q.eval()
    # 1.3 * 2 + 0.5 = 3.1 -> 3 -> 1.5; -5 saturates at -2^2 = -4
    assert torch.equal(q(torch.tensor([1.3, -5.0])), torch.tensor([1.5, -4.0]))


def test_quantize_fixed_hand_values():
    # ufixed k=0 i=2 f=2: 0.3 * 4 + 0.5 = 1.7 -> 1 -> 0.25; 5.0 saturates at 4 - 0.25 = 3.75; -1 -> 0
    assert torch.equal(quantize_fixed(torch.tensor([0.3, 5.0, -1.0]), 0, 2, 2), torch.tensor([0.25, 3.75, 0.0]))
    # round half up: 0.125 * 4 + 0.5 = 1.0 -> 1 -> 0.25 ; -0.125 * 4 + 0.5 = 0 -> 0
    assert torch.equal(quantize_fixed(torch.tensor([0.125, -0.125]), 1, 2, 2), torch.tensor([0.25, 0.0]))
