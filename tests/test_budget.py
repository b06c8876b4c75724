"""The budget term: sign switching, growth below / pruning above the budget, repair and fill, resolution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cost_models import trace_geometry
from csq_hw import QuantConfig, UserError, convert, csq_layers, hard_bits, set_phase, set_temperature, soft_bits
from csq_hw.train.budget import BudgetRegularizer, fill_to_budget, repair_to_budget, resolve_budget


def _mlp(mask_init=0.0, act_bits=4):
    torch.manual_seed(0)
    m = convert(
        nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)),
        QuantConfig(max_bits=8, act_bits=act_bits, mask_init=mask_init),
    )
    geo = trace_geometry(m, (8,), include=lambda n, _m: n in {"0", "2"})
    return m, geo


def _soft_weight_bits(model) -> float:
    return float(sum(b.weight.detach() for b in soft_bits(model).values()))


def _steps_of_budget_term_only(model, geo, spec, n=20, strength=5.0):
    budget = resolve_budget(spec, model, geo)
    reg = BudgetRegularizer(budget, strength)
    opt = torch.optim.SGD([p for n_, p in model.named_parameters() if n_.endswith("mask_logits")], lr=1.0)
    set_temperature(model, 1.0)
    for _ in range(n):
        with torch.no_grad():
            hard = float(budget.cost(geo, hard_bits(model)))
        loss = reg(geo, soft_bits(model), hard)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return budget


def test_regularizer_prunes_above_budget():
    m, geo = _mlp(mask_init=0.5)  # all 8 positions selected: size = 8 * (128 + 64) + 16 * 20 = 1856 bits
    before = _soft_weight_bits(m)
    _steps_of_budget_term_only(m, geo, "size=u3")
    assert _soft_weight_bits(m) < before


def test_regularizer_grows_below_budget():
    m, geo = _mlp(mask_init=-0.5)  # hard mask keeps 1 position per layer: cheap, below a u6 budget
    before = _soft_weight_bits(m)
    budget = _steps_of_budget_term_only(m, geo, "size=u6")
    assert _soft_weight_bits(m) > before
    assert float(budget.cost(geo, hard_bits(m))) > 2 * (128 + 64) + 16 * 20  # grew past one bit per layer


def test_coefficient_switches_sign():
    m, geo = _mlp()
    reg = BudgetRegularizer(resolve_budget("size=1000", m, geo), 1.0)
    # (C_hard - B) / B: (1500 - 1000) / 1000 = 0.5 ; (500 - 1000) / 1000 = -0.5
    assert reg.coefficient(1500.0) == pytest.approx(0.5)
    assert reg.coefficient(500.0) == pytest.approx(-0.5)


def test_uniform_budget_value():
    m, geo = _mlp()
    # u3: weights 8*16 + 16*4 = 192 at 3 bits = 576, biases 16 + 4 = 20 at 16 bits = 320 -> 896 bits
    assert resolve_budget("size=u3", m, geo).value == 896.0


def test_repair_reaches_budget_and_fill_uses_slack():
    m, geo = _mlp()  # 8 bits everywhere: 8 * 192 + 320 = 1856 bits
    budget = resolve_budget("size=u3", m, geo)
    set_phase(m, "hard")
    dropped = repair_to_budget(m, geo, budget)
    cost = float(budget.cost(geo, hard_bits(m)))
    assert dropped and cost <= budget.value
    added = fill_to_budget(m, geo, budget)
    cost_after = float(budget.cost(geo, hard_bits(m)))
    assert budget.value >= cost_after >= cost
    assert all(s.kind == "add act" for s in added)  # weight positions are never revived


def test_repair_drops_smallest_logit_first():
    m, geo = _mlp()
    (_, first), (_, second) = list(csq_layers(m))
    with torch.no_grad():
        first.weight_q.mask_logits.fill_(3.0)
        second.weight_q.mask_logits.fill_(2.0)
        second.weight_q.mask_logits[5] = 0.1  # the least confident selected bit
    budget = resolve_budget("size=1850", m, geo)  # 1856 - 1850: dropping any one bit (>= 64) suffices
    set_phase(m, "hard")
    steps = repair_to_budget(m, geo, budget)
    assert [(s.layer, s.kind, s.position) for s in steps] == [("2", "drop weight", 5)]


@pytest.mark.parametrize("spec, words", [("size=10", "below the cheapest"), ("size=1e9", "above the dearest"),
                                         ("nope=3", "unknown cost kind"), ("size", "KIND=VALUE"),
                                         ("size=abc", "not a number")])  # fmt: skip
def test_bad_budgets(spec, words):
    m, geo = _mlp()
    with pytest.raises(Exception, match=words):
        resolve_budget(spec, m, geo)


def test_infeasible_budget_is_user_error():
    m, geo = _mlp()
    with pytest.raises(UserError):
        resolve_budget("size=10", m, geo)


def test_loss_guided_repair_drops_the_bits_the_loss_does_not_need():
    m, geo = _mlp()
    (_, first), (_, second) = list(csq_layers(m))

    def loss():  # a stand-in task loss that only needs layer "0"'s bits
        return float(8 - len(first.weight_q.positions()))

    budget = resolve_budget("size=1500", m, geo)  # 1856 -> 1500: drop >= 356 bits
    set_phase(m, "hard")
    steps = repair_to_budget(m, geo, budget, loss)
    assert steps and {s.layer for s in steps} == {"2"}  # layer "2" (64 weights) pays, layer "0" keeps 8 bits
    assert len(first.weight_q.positions()) == 8
    assert float(budget.cost(geo, hard_bits(m))) <= budget.value


def test_fill_never_revives_weight_positions():
    # A revived weight position has no useful digits and no Adam history: Adam's first normalised steps flip its
    # planes across the whole layer. fill_to_budget therefore only adds activation bits.
    m, geo = _mlp()
    x = torch.rand(32, 8)
    m.train()
    m(x)  # calibrate
    (_, first), _ = list(csq_layers(m))
    set_phase(m, "hard")
    with torch.no_grad():
        first.weight_q.mask_logits[:6] = -1.0  # keep positions 6, 7 only
    budget = resolve_budget("size=1400", m, geo)  # room for more weight bits in layer "0"
    added = fill_to_budget(m, geo, budget, lambda: 0.0)
    assert not any(s.kind == "add weight" for s in added)
    assert first.weight_q.positions() == [6, 7]


def test_term_from_soft_costs_is_the_budget_term():
    """What the compiled step does (soft costs out of the graph, coefficients applied outside) gives the value and
    the mask-logit gradients of ``reg(geometry, soft, hard)``, for an over- and an under-budget hard cost."""
    m, geo = _mlp()
    set_temperature(m, 2.0)
    reg = BudgetRegularizer(resolve_budget("size=1000", m, geo), 3.0)
    logits = [layer.weight_q.mask_logits for _, layer in csq_layers(m)]
    for hard in (1500.0, 500.0):  # coefficients +0.5 and -0.5
        direct = reg(geo, soft_bits(m), hard)
        g_direct = torch.autograd.grad(direct, logits)
        costs = reg.soft_costs(geo, soft_bits(m))
        assert len(costs) == 1
        split = reg.term(costs, hard)
        g_split = torch.autograd.grad(split, logits)
        assert float(split) == float(direct) != 0.0
        for a, b in zip(g_direct, g_split, strict=True):
            assert torch.equal(a, b)
