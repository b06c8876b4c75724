"""The one training schedule (issue 27): ``Schedule.plan`` against the table in csq_hw/train/schedule.py, and both
loops (``csq-hw train`` and ``prepare``) applying the same plan to the layers."""

from __future__ import annotations

import torch
from torch import nn

import csq_hw
from csq_hw.quant.layers import csq_layers
from csq_hw.train.config import TrainConfig
from csq_hw.train.schedule import Schedule


def _cfg(**kw) -> TrainConfig:
    return TrainConfig.from_flat(**{"model": "digits-mlp", "dataset": "digits", "budget": "size=u3", **kw})


def test_plan_follows_the_table():
    # epochs 12, ticket_epoch 4, settle 1: budget term in epochs 0..2 (4 - 1 = 3 excluded), search 0..3,
    # hand-over at 4, calibration window 4 .. 4 + (12 - 4 + 1) // 2 - 1 = 4..7
    schedule = Schedule(_cfg(epochs=12, ticket_epoch=4, settle_epochs=1))
    plans = [schedule.plan(e) for e in range(12)]
    assert [p.phase for p in plans] == ["search"] * 4 + ["hard"] * 8
    assert [p.budget_term for p in plans] == [True] * 3 + [False] * 9
    assert [e for e, p in enumerate(plans) if p.hand_over] == [4]
    assert [e for e, p in enumerate(plans) if p.calibrating] == [4, 5, 6, 7]
    assert [p.temperature for p in plans] == [
        _cfg(epochs=12, ticket_epoch=4).train.temperature_at(e) for e in range(12)
    ]


def test_baselines_have_no_hand_over_no_budget_term_and_no_calibration_window():
    for flags in ({"qat": True, "max_bits": 3}, {"uniform": True, "max_bits": 3}):
        plans = [Schedule(_cfg(epochs=6, **flags)).plan(e) for e in range(6)]
        assert not any(p.hand_over or p.budget_term or p.calibrating for p in plans)


def test_the_paper_hard_phase_keeps_the_ranges_frozen():
    # finetune "planes": no straight-through fine-tune, so no calibration window; ticket round(0.8 * 10) = 8
    plans = [Schedule(_cfg(epochs=10, finetune="planes")).plan(e) for e in range(10)]
    assert [e for e, p in enumerate(plans) if p.hand_over] == [8] and not any(p.calibrating for p in plans)


def test_prepare_applies_the_trainers_calibration_window():
    """``prepare()``'s CSQModel used to lack the fine-tune's calibration window; it now applies the same plan."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    qmodel = csq_hw.prepare(net, input_shape=(8,), budget="size=u4", epochs=6, ticket_epoch=2)
    x, y = torch.randn(64, 8), torch.randint(0, 4, (64,))
    calibrating = []
    for epoch in range(6):
        qmodel.start_epoch(epoch, batch=(x, y))
        calibrating.append(all(layer.act.calibrating for _, layer in csq_layers(qmodel.module)))
    # window 2 .. 2 + (6 - 2 + 1) // 2 - 1 = 2..3
    assert calibrating == [False, False, True, True, False, False]
    assert qmodel.schedule.plan(3) == Schedule(qmodel.cfg).plan(3)


def test_ebops_budgets_price_the_integer_weights_by_default():
    from cost_models import BudgetSpec
    from csq_hw.train.budget_set import prices_weights

    def weights(spec: str, pricing: str | None) -> bool:
        return prices_weights(BudgetSpec.parse(spec), pricing)

    assert weights("ebops=2e5", None) and weights("lut=3000,ebops=1e5", None)
    assert not weights("bops=u4", None) and not weights("ebops=2e5", "widths")
    assert weights("size=u3", "weights")


def test_a_weights_priced_budget_set_passes_the_integer_weights():
    from cost_models import trace_geometry
    from csq_hw.quant.convert import QuantConfig, convert
    from csq_hw.train.budget import resolve_budgets

    torch.manual_seed(0)
    model = convert(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), QuantConfig(max_bits=4, act_bits=4))
    geometry = trace_geometry(model, (4,))
    widths, weights = (resolve_budgets("ebops=u4", model, geometry, exact) for exact in (False, True))
    assert all(b.weight_values is None for b in widths.bits(model).values())
    bits = weights.bits(model)
    ints = bits["0"].weight_values
    assert ints.shape == (3, 4) and torch.equal(ints, ints.round())
    # per weight, its own width: no more than the layer's 4-bit span prices every weight at
    assert weights.costs(geometry, bits)[0] <= widths.costs(geometry, widths.bits(model))[0]


def test_the_fine_tunes_last_share_trains_against_frozen_steps():
    # epochs 12, ticket 4: fine-tune epochs 4..11 (8); freeze_share 0.5 -> the last floor(0.5 * 8) = 4: 8..11.
    # plain QAT is straight-through from epoch 0: the last floor(0.5 * 12) = 6, 6..11; freeze_share 0: none
    frozen = [e for e in range(12) if Schedule(_cfg(epochs=12, ticket_epoch=4)).plan(e).steps_frozen]
    assert frozen == [8, 9, 10, 11]
    qat = Schedule(_cfg(epochs=12, qat=True, max_bits=3))
    assert [e for e in range(12) if qat.plan(e).steps_frozen] == [6, 7, 8, 9, 10, 11]
    off = Schedule(_cfg(epochs=12, ticket_epoch=4, freeze_share=0.0))
    assert not any(off.plan(e).steps_frozen for e in range(12))
    # the paper's hard phase (planes) has no straight-through epochs to freeze
    assert not any(Schedule(_cfg(epochs=10, finetune="planes")).plan(e).steps_frozen for e in range(10))


def test_frozen_steps_keep_the_weight_exponent_and_give_the_range_no_gradient():
    """A frozen layer keeps its fine-tune step while the shadow weights grow, and its learned range gets no
    gradient; unfrozen, both move again."""
    from csq_hw.quant.convert import QuantConfig, convert
    from csq_hw.quant.layers import set_phase

    torch.manual_seed(0)
    model = convert(nn.Sequential(nn.Linear(4, 3)), QuantConfig(max_bits=4, act_bits=4))
    ((_, layer),) = csq_layers(model)
    set_phase(model, "hard")
    x = torch.randn(32, 4)
    layer.start_finetune(from_current=False, step_rule="maxabs")
    with torch.no_grad():
        layer.weight_q.shadow.copy_(torch.full((3, 4), 0.7))
    # maxabs: the smallest power of two whose 4-bit grid (max |value| 15) holds 0.7: 2^ceil(log2(0.7 / 15)) = 2^-4
    assert float(layer.weight_q.frozen_step()) == 2.0**-4
    layer.freeze_steps(True)
    with torch.no_grad():
        layer.weight_q.shadow.mul_(4.0)  # 2.8: maxabs would now take 2^ceil(log2(2.8 / 15)) = 2^-2
    assert float(layer.weight_q.frozen_step()) == 2.0**-4
    model(x).sum().backward()
    assert layer.act.log2_range.grad is None
    layer.freeze_steps(False)
    assert float(layer.weight_q.frozen_step()) == 2.0**-2
    model(x).sum().backward()
    assert layer.act.log2_range.grad is not None


def test_a_resolved_config_from_before_the_freeze_trains_as_it_did(tmp_path):
    import tomllib

    from csq_hw.train.config import config_to_toml, load_config

    text = config_to_toml(_cfg(epochs=6))
    assert "freeze_share" in text
    old = "\n".join(line for line in text.splitlines() if not line.startswith("freeze_share"))
    path = tmp_path / "config.toml"
    path.write_text(old + "\n")
    assert "freeze_share" not in tomllib.loads(path.read_text())["train"]
    assert load_config(path).train.freeze_share == 0.0


def test_a_fine_tune_that_grows_over_a_weight_priced_budget_is_brought_back_within_it():
    """EBOPs priced by the integer weights: shadow weights that grow need more bits, so the fine-tune's epochs start
    with a budget check (Schedule.keep_budget); within budget it changes nothing."""
    from cost_models import trace_geometry
    from csq_hw.quant.convert import QuantConfig, convert
    from csq_hw.quant.layers import set_phase
    from csq_hw.train.budget import resolve_budgets

    torch.manual_seed(0)
    model = convert(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)), QuantConfig(max_bits=4, act_bits=4))
    geometry = trace_geometry(model, (8,))
    for _, layer in csq_layers(model):
        layer.start_finetune(from_current=False, step_rule="search")  # the step stays: larger weights, larger ints
    set_phase(model, "hard")
    budget = resolve_budgets("ebops=u3", model, geometry, exact_weights=True)
    schedule = Schedule(_cfg(epochs=6, ticket_epoch=2, budget="ebops=u3"))
    assert schedule.keeps_budget(schedule.plan(3)) and not schedule.keeps_budget(schedule.plan(2))
    batch = (torch.randn(64, 8), torch.randint(0, 4, (64,)))
    with torch.no_grad():
        for _, layer in csq_layers(model):
            layer.weight_q.shadow.mul_(0.05)  # small weights: few bits each
    before = budget.costs(geometry, budget.bits(model))
    assert budget.fits(before) and schedule.keep_budget(model, geometry, budget, lambda: batch) == []
    with torch.no_grad():
        for _, layer in csq_layers(model):
            layer.weight_q.shadow.mul_(100.0)  # grown: every weight at the top of its grid
    assert not budget.fits(budget.costs(geometry, budget.bits(model)))
    steps = schedule.keep_budget(model, geometry, budget, lambda: batch)
    assert any(s["kind"].startswith("drop") for s in steps)
    assert budget.fits(budget.costs(geometry, budget.bits(model)))


def test_prepare_keeps_a_weight_priced_budget_in_its_fine_tune_epochs():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    qmodel = csq_hw.prepare(net, input_shape=(8,), budget="ebops=u3", epochs=4, ticket_epoch=2)
    batch = (torch.randn(64, 8), torch.randint(0, 4, (64,)))
    for epoch in range(3):
        qmodel.start_epoch(epoch, batch=batch)
    with torch.no_grad():
        for _, layer in csq_layers(qmodel.module):
            layer.weight_q.shadow.mul_(100.0)  # the fine-tuned weights grew: every one at the top of its grid
    assert not qmodel.budget.fits(qmodel.costs())
    qmodel.start_epoch(3, batch=batch)
    assert qmodel.budget.fits(qmodel.costs())
