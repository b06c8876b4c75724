"""--mask-ste: hard masks and gates in the forward pass while searching, sigmoid gradients backward."""

from __future__ import annotations

import torch
from torch import nn

from csq_hw import QuantConfig, convert, csq_layers, set_temperature


def test_mask_ste_forward_is_hard_and_gradient_is_soft():
    torch.manual_seed(0)
    model = convert(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)),
                    QuantConfig(act_bits="search", mask_ste=True))  # fmt: skip
    (_, first), (_, second) = list(csq_layers(model))
    with torch.no_grad():
        first.weight_q.mask_logits.copy_(torch.tensor([0.01, -0.01, 0.3, -0.3, 1.0, 1.0, 1.0, 1.0]))
        second.act.gate_logits.copy_(torch.tensor([0.02, -0.02, 0.5, 0.5, 0.5, 0.5]))
    set_temperature(model, 2.0)
    model.train()
    # forward values are exactly the hard masks: 1[m >= 0]
    assert torch.equal(first.weight_q.mask(), torch.tensor([1.0, 0, 1, 0, 1, 1, 1, 1]))
    # gates: cumulative product of 1[g >= 0] -> 1, 0, 0, ...; width = min_bits (2) + 1 = 3 = hard_bits()
    assert torch.equal(second.act.gates(), torch.tensor([1.0, 0, 0, 0, 0, 0]))
    assert float(second.act.soft_bits().detach()) == second.act.hard_bits() == 3
    model(torch.randn(8, 6)).square().sum().backward()
    assert first.weight_q.mask_logits.grad.abs().sum() > 0  # sigmoid gradients still reach the logits
    assert second.act.gate_logits.grad.abs().sum() > 0


def test_default_search_is_soft():
    model = convert(nn.Sequential(nn.Linear(6, 4)), QuantConfig())
    ((_, layer),) = csq_layers(model)
    set_temperature(model, 1.0)
    # sigmoid(1 * 0) = 0.5 for every position at the default mask_init = 0
    assert torch.allclose(layer.weight_q.mask(), torch.full((8,), 0.5))
