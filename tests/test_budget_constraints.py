"""Several constraints in one run (#16): parsing, each constraint's own coefficient, the repair and the fill honour
all of them, two constraints binding in turn, and the summary reporting each cost against its budget."""

from __future__ import annotations

import json

import pytest
import torch

from cost_models import BudgetSpec, CostError
from csq_hw.errors import UserError
from csq_hw.quant.layer_bits import hard_bits, soft_bits
from csq_hw.quant.layers import set_phase
from csq_hw.train.budget import BudgetRegularizer, fill_to_budget, repair_to_budget
from csq_hw.train.config import load_config
from csq_hw.train.model_build import build_csq_model
from csq_hw.train.summary_report import summary_lines
from csq_hw.train.train_run import train_run


def _texts(spec) -> list[str]:
    return [str(c) for c in BudgetSpec.parse(spec)]


def test_the_budget_grammar():
    assert _texts("lut=20000,latency:bismo=4e4") == ["lut=20000", "latency:bismo=4e4"]
    # a comma inside a cost's options stays with it: a constraint ends at its =VALUE
    assert _texts("latency:bismo,b16=4e4,lut:resource,rf4=3000") == [
        "latency:bismo,b16=4e4", "lut:resource,rf4=3000"]  # fmt: skip
    assert _texts("size=u3; bops=2e5") == ["size=u3", "bops=2e5"]
    assert _texts(["lut=1e4", "dsp=10"]) == ["lut=1e4", "dsp=10"]  # a TOML list
    # the value follows the last '=': a table path keeps its own
    (table,) = BudgetSpec.parse("latency:table=t.csv=4e4")
    assert (table.kind, table.value, table.uniform, table.family) == ("latency:table=t.csv", 4e4, False, "latency")
    (u3,) = BudgetSpec.parse("size=u3")
    assert (u3.kind, u3.value, u3.uniform, u3.value_text) == ("size", 3.0, True, "u3")
    spec = BudgetSpec.parse("lut=1e4;ebops:exact=2e5")
    assert BudgetSpec.parse(str(spec)) == spec and spec.has_family("ebops") and not spec.has_family("bops")
    for bad, words in (("lut=1e4,lut=2e4", "constrains lut twice"), ("lut=1e4,dsp", "every constraint is KIND=VALUE"),
                       ("size=ux", "not a number or uN"), ("size=u0", "must be positive"),
                       ("bops=-3", "positive, finite"), ("=3", "not KIND=VALUE")):  # fmt: skip
        with pytest.raises(CostError, match=words):
            BudgetSpec.parse(bad)


def test_a_config_parses_its_budget_once_and_refuses_bad_grammar_with_one_line():
    cfg = load_config(None, model="digits-mlp", dataset="digits", budget="lut=20000,latency:bismo,b16=4e4")
    assert [c.kind for c in cfg.budget.parsed] == ["lut", "latency:bismo,b16"]
    with pytest.raises(UserError, match="constrains lut twice"):
        load_config(None, model="digits-mlp", dataset="digits", budget="lut=1e4,lut=2e4")


def _model(budget: str):
    cfg = load_config(None, model="digits-mlp", dataset="digits", budget=budget, act_bits="search", max_bits=4)
    model, geometry, budgets = build_csq_model(cfg)
    set_phase(model, "hard")
    return model, geometry, budgets


def test_each_constraint_gets_its_own_coefficient():
    model, geometry, budgets = _model("size=u3,bops=u3")
    (size_b, bops_b) = (b.value for b in budgets)
    # over on size (1.2 B), under on BOPs (0.9 B): size prunes with (1.2 - 1) = 0.2, BOPs is silent
    assert budgets.coefficients((1.2 * size_b, 0.9 * bops_b)) == pytest.approx((0.2, 0.0))
    # both over: each prunes by its own excess
    assert budgets.coefficients((1.1 * size_b, 1.5 * bops_b)) == pytest.approx((0.1, 0.5))
    # both under: only the tightest (size, 5 % slack against 20 %) rewards growth, so growing cannot push BOPs over
    assert budgets.coefficients((0.95 * size_b, 0.8 * bops_b)) == pytest.approx((-0.05, 0.0))
    reg = BudgetRegularizer(budgets, strength=2.0)
    soft = soft_bits(model)
    hard = (1.1 * size_b, 1.5 * bops_b)
    want = 2.0 * (0.1 * budgets.members[0].cost(geometry, soft) / size_b
                  + 0.5 * budgets.members[1].cost(geometry, soft) / bops_b)  # fmt: skip
    assert float(reg(geometry, soft, hard)) == pytest.approx(float(want))
    assert reg.coefficient(hard) == pytest.approx(0.6)


def test_repair_meets_every_constraint_and_they_bind_in_turn():
    model, geometry, budgets = _model("size=u3,bops=u2")
    start = budgets.costs(geometry, hard_bits(model))
    assert budgets.violated(start) == [0, 1]  # every bit on: both over
    steps = repair_to_budget(model, geometry, budgets)
    final = budgets.costs(geometry, hard_bits(model))
    assert budgets.fits(final)
    violated = [budgets.violated(s.costs_after) for s in steps]
    # first both bind, then (after one is met) the other alone: the repair keeps going for the second one
    assert violated[0] == [0, 1] or len(violated) == 1
    alone = {tuple(v) for v in violated if len(v) == 1}
    assert alone, violated
    # with the first constraint alone the repair would have stopped earlier
    single, geo1, b1 = _model("size=u3")
    assert len(repair_to_budget(single, geo1, b1)) < len(steps)
    # the fill adds only what keeps both satisfied
    for step in fill_to_budget(model, geometry, budgets):
        assert budgets.fits(step.costs_after)
    assert budgets.fits(budgets.costs(geometry, hard_bits(model)))


def test_an_unreachable_constraint_is_named():
    with pytest.raises(UserError, match=r"budget bops=1 = 1 BOP is below the cheapest reachable model"):
        _model("size=u3,bops=1")


def test_a_run_under_two_constraints_reports_each(tmp_path):
    out = tmp_path / "run"
    cfg = load_config(None, model="digits-mlp", dataset="digits", budget="size=u3,bops=u3", act_bits="search",
                      epochs=3)  # fmt: skip
    torch.manual_seed(0)
    summary = train_run(cfg, out, progress=False)
    entries = summary["budgets"]
    assert [e["cost"] for e in entries] == ["size", "bops"]
    for e in entries:
        assert e["final_cost"] <= e["value"] and e["cost_over_budget"] == pytest.approx(e["final_cost"] / e["value"])
    assert summary["budget"]["cost"] == "size" and summary["final_cost"] == entries[0]["final_cost"]  # primary
    lines = summary_lines(json.loads((out / "summary.json").read_text()))
    assert any(line.startswith("size (budget)") for line in lines)
    assert any(line.startswith("bops (budget)") and f"{entries[1]['cost_over_budget']:.3f}" in line for line in lines)
    resolved = (out / "config.toml").read_text()
    assert 'spec = "size=u3,bops=u3"' in resolved  # the run's own config reruns the same constraints
