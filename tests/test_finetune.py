"""The straight-through fine-tune after the ticket and the plain QAT baseline: signed-digit value sets, the
projection, the max-abs step, the hand-over (exact model == hard-phase model), the fill's weight positions, the
learning-rate schedule, resume inside the fine-tune."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from run_cuts import cut_after_checkpoint
from torch import nn

from cost_models import trace_geometry
from csq_hw import QuantConfig, TrainConfig, convert, csq_layers, set_phase, to_exact, train_run
from csq_hw.errors import UserError
from csq_hw.quant.bitplane_weight import BitPlaneWeight
from csq_hw.quant.signed_digits import nearest_value, project, representable_values
from csq_hw.train.budget import fill_to_budget, resolve_budget
from csq_hw.train.lr_schedule import LrSchedule
from csq_hw.train.trainer import make_optimizer


def test_representable_values_by_hand():
    # contiguous {0, 1}: d0 + 2 d1 with d in {-1, 0, 1} -> every integer in -3..3
    assert representable_values([0, 1]) == [-3, -2, -1, 0, 1, 2, 3]
    # {0, 3}: d0 + 8 d3 -> {-9, -8, -7} u {-1, 0, 1} u {7, 8, 9}
    assert representable_values([3, 0]) == [-9, -8, -7, -1, 0, 1, 7, 8, 9]
    # {2}: 4 d2 -> {-4, 0, 4}; {1, 2}: multiples of 2 up to 2 + 4 = 6
    assert representable_values([2]) == [-4, 0, 4]
    assert representable_values([1, 2]) == [-6, -4, -2, 0, 2, 4, 6]
    assert representable_values([]) == [0]


def test_nearest_value_and_ties():
    v = torch.tensor([-9.0, -8, -7, -1, 0, 1, 7, 8, 9])
    x = torch.tensor([3.9, 4.0, 4.1, -0.4, 100.0, -5.0, -4.0, 0.5])
    # 3.9: |3.9 - 1| = 2.9 < |7 - 3.9| = 3.1 -> 1;  4.0: tie between 1 and 7 -> the larger, 7;  4.1 -> 7
    # -0.4 -> 0;  100 -> 9 (saturates);  -5: |-5 + 7| = 2 < |-5 + 1| = 4 -> -7;  -4: tie -> -1;  0.5: tie -> 1
    assert nearest_value(x, v).tolist() == [1.0, 7.0, 7.0, 0.0, 9.0, -7.0, -1.0, 1.0]
    assert nearest_value(torch.tensor([[2.2, -3.0]]), torch.tensor([0.0])).tolist() == [[0.0, 0.0]]


def test_projection_passes_gradients_straight_through():
    x = torch.tensor([0.3, 2.6, -7.2], requires_grad=True)
    y = project(x, torch.tensor([-3.0, -2, -1, 0, 1, 2, 3]))
    assert y.tolist() == [0.0, 3.0, -3.0]
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0]  # identity backward, also where the forward saturated


def test_maxabs_step_and_integer_weight_by_hand():
    w = torch.tensor([[0.9, -0.3], [0.05, -0.62]])
    bw = BitPlaneWeight(w, n_bits=3)
    bw.start_finetune(from_current=False, step_rule="maxabs")
    bw.phase = "hard"
    # positions {0, 1, 2}: V = -7..7; step = 2^ceil(log2(0.9 / 7)) = 2^ceil(-2.96) = 2^-2 = 0.25
    # w / 0.25 = [3.6, -1.2, 0.2, -2.48] -> [4, -1, 0, -2] -> weight [1.0, -0.25, 0.0, -0.5]
    assert torch.equal(bw(), torch.tensor([[1.0, -0.25], [0.0, -0.5]]))
    assert bw.step_exponent() == -2
    assert bw.integer_weight().tolist() == [[4, -1], [0, -2]]
    bw.phase = "relaxed"  # the unprojected shadow
    assert torch.equal(bw(), w)


def test_searched_step_and_a_gap_in_the_positions():
    bw = BitPlaneWeight(torch.tensor([1.0, -0.5]), n_bits=4)  # step 2^ceil(log2(1 / 15)) = 2^-3
    with torch.no_grad():
        bw.mask_logits.copy_(torch.tensor([1.0, -1.0, -1.0, 1.0]))  # positions {0, 3}
        bw.shadow.copy_(torch.tensor([0.55, -0.3]))
    bw.start_finetune(from_current=False)
    bw.phase = "hard"
    # V({0, 3}) = {0, +-1, +-7, +-8, +-9}; 0.55 / 0.125 = 4.4 -> 7 (|4.4 - 7| = 2.6 < 3.4); -0.3 / 0.125 = -2.4 -> -1
    assert bw.integer_weight().tolist() == [7, -1]
    assert torch.equal(bw(), torch.tensor([0.875, -0.125]))


def test_start_finetune_from_the_soft_search_weight():
    torch.manual_seed(0)
    bw = BitPlaneWeight(torch.randn(5, 3), n_bits=6, mask_init=0.3)
    bw.temperature = 4.0
    soft = bw().detach().clone()  # search phase: soft mask, relaxed digits
    bw.start_finetune(from_current=True)
    assert torch.equal(bw.shadow.detach(), soft)
    assert bool(bw.finetuning) and int(bw.step_rule) == 0  # "search": the step is kept


@pytest.mark.parametrize("rule", ["search", "maxabs", "mse"])
def test_exact_model_equals_the_finetuning_model(rule):
    torch.manual_seed(1)
    model = convert(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)), QuantConfig(max_bits=4, act_bits=6))
    x = torch.randn(32, 6)
    model.train()
    model(x)  # calibrates the activation ranges
    for _, layer in csq_layers(model):
        with torch.no_grad():
            layer.weight_q.mask_logits.copy_(torch.tensor([-1.0, 1.0, -1.0, 1.0]))  # positions {1, 3}
        layer.weight_q.start_finetune(from_current=False, step_rule=rule)
    set_phase(model, "hard")
    model.eval()
    hard = model(x)
    exact = to_exact(model)
    assert torch.equal(exact(x), hard)
    for (_, layer), name in zip(csq_layers(model), ("0", "2"), strict=True):
        ints = exact.get_submodule(name).layer.weight / 2.0 ** layer.weight_q.step_exponent()
        assert set(ints.flatten().tolist()) <= set(map(float, representable_values([1, 3])))


def test_optimizers_split_search_and_finetune_parameters():
    model = convert(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), QuantConfig(act_bits="search"))
    names = {id(p): n for n, p in model.named_parameters()}

    def held(opt):
        return {names[id(p)] for g in opt.param_groups for p in g["params"]}

    search = held(make_optimizer(model, "adam", 0.01, 0.0))
    tune = held(make_optimizer(model, "adam", 0.01, 0.0, finetune=True))
    assert "0.weight_q.pos" in search and "0.weight_q.mask_logits" in search and "0.weight_q.shadow" not in search
    # the learned activation ranges (the default) train in both phases
    ranges = {"0.act.log2_range", "2.act.log2_range"}
    assert tune == {"0.weight_q.shadow", "0.bias", "2.weight_q.shadow", "2.bias"} | ranges
    assert ranges <= search


def test_fill_adds_weight_positions_only_to_finetuning_layers():
    torch.manual_seed(0)
    model = convert(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)), QuantConfig(max_bits=8, act_bits=4))
    geo = trace_geometry(model, (8,), include=lambda n, _m: n in {"0", "2"})
    for (_, layer), off in zip(csq_layers(model), (-0.5, -1.0), strict=True):
        with torch.no_grad():
            layer.weight_q.mask_logits.copy_(torch.tensor([off] * 6 + [1.0, 1.0]))  # 2 positions per layer
    # size = 2 * (128 + 64) + 16 * 20 = 704 bits; u3 = 3 * 192 + 320 = 896. Without a loss the largest logit goes
    # first: a position of layer 0 (logit -0.5, +128 -> 832); another one would give 960 > 896, so then one of
    # layer 2 (+64 -> 896), and nothing fits any more
    budget = resolve_budget("size=u3", model, geo)
    assert budget.value == 896
    assert fill_to_budget(model, geo, budget) == []  # plane-parametrised: weight positions are never revived
    for _, layer in csq_layers(model):
        layer.weight_q.start_finetune(from_current=False)
    set_phase(model, "hard")
    # a loss that every extra position raises (1 per selected position): the fill adds nothing ...
    positions = lambda: float(sum(len(la.weight_q.positions()) for _, la in csq_layers(model)))  # noqa: E731
    assert fill_to_budget(model, geo, budget, positions) == []
    # ... unless told to spend the budget: least harm per unit of cost first, layer 0 (+1 loss for 128 / 896 of
    # the budget: 7.0 per budget) before layer 2 (+1 for 64 / 896: 14.0); then only layer 2 still fits
    steps = fill_to_budget(model, geo, budget, positions, spend_all=True)
    assert [(s.layer, s.kind, s.loss_after) for s in steps] == [("0", "add weight", 5.0), ("2", "add weight", 6.0)]
    assert steps[-1].cost_after == 896


def test_learning_rate_schedules():
    cfg = TrainConfig.from_flat(epochs=9, ticket_epoch=3, lr=0.01, finetune_lr=0.02)
    fresh = LrSchedule(cfg, steps_per_epoch=10, fresh=True)
    # search: one cosine over epochs 0-2 (30 steps); fine-tune: a new one over epochs 3-8 (60 steps) from 0.02
    assert fresh.at(2) == (20, 30, 0.01) and fresh.at(3) == (0, 60, 0.02) and fresh.at(8) == (50, 60, 0.02)
    once = LrSchedule(cfg.replace(finetune="planes"), steps_per_epoch=10, fresh=False)
    assert once.at(3) == (30, 90, 0.01)
    assert (
        TrainConfig.from_flat(epochs=30).train.ticket == 10
        and TrainConfig.from_flat(epochs=30, finetune="planes").train.ticket == 24
    )
    assert (
        TrainConfig.from_flat(lr=0.003).train.finetune_learning_rate == 0.006
    )  # unset: twice the search's learning rate


@pytest.mark.parametrize(
    "kwargs, match",
    [({"finetune": "hard"}, "finetune="), ({"finetune_lr": 0.0}, "finetune_lr"), ({"finetune_step": "x"}, "step"),
     ({"finetune_init": "x"}, "finetune_init"), ({"qat": True, "act_bits": "search"}, "qat")],
)  # fmt: skip
def test_bad_finetune_settings_are_refused(kwargs, match):
    with pytest.raises(UserError, match=match):
        TrainConfig.from_flat(**kwargs)


def test_qat_baseline_run(tmp_path):
    cfg = TrainConfig.from_flat(
        model="digits-mlp", dataset="digits", budget="size=u3", qat=True, max_bits=3, epochs=4, seed=0
    )
    summary = train_run(cfg, tmp_path, progress=False)
    assert summary["method"] == "qat"
    assert [row["weight_positions"] for row in summary["layers"]] == [[0, 1, 2]] * 3
    assert summary["cost_over_budget"] == 1.0 and summary["repairs"] == []
    assert summary["test_acc"] == summary["hard_model_test_acc"] and summary["test_acc"] > 0.8
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert (metrics.reg_coefficient == 0).all()  # no budget term


def test_resume_inside_the_finetune_gives_the_same_run(tmp_path, monkeypatch):
    cfg = TrainConfig.from_flat(
        model="digits-mlp", dataset="digits", budget="size=u3", epochs=6, ticket_epoch=2, seed=4
    )
    full = train_run(cfg, tmp_path / "full", progress=False)
    cut_after_checkpoint(monkeypatch, cfg, tmp_path / "cut", epoch=4)  # after epoch 3, two epochs into the fine-tune
    resumed = train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    read = lambda d: json.loads((tmp_path / d / "precisions.json").read_text())  # noqa: E731
    assert read("full") == read("cut")
    assert resumed["test_acc"] == full["test_acc"]
    assert full["test_acc"] == full["hard_model_test_acc"]  # the exact model is the fine-tuned hard model


def test_mse_step_clips_when_that_pays():
    # one position {0}: V = {-1, 0, 1}. w = [1, .4, .4, .4, .4]: max-abs step 2^ceil(log2(1 / 1)) = 1 gives
    # [1, 0, 0, 0, 0] (squared error 4 * .16 = .64); step 1/2 gives [.5] * 5 (.25 + 4 * .01 = .29, the least);
    # step 1/4 gives [.25] * 5 (.5625 + 4 * .0225 = .6525)
    w = torch.tensor([1.0, 0.4, 0.4, 0.4, 0.4])
    for rule, want, e in (("maxabs", [1.0, 0, 0, 0, 0], 0), ("mse", [0.5] * 5, -1)):
        bw = BitPlaneWeight(w, n_bits=1)
        bw.start_finetune(from_current=False, step_rule=rule)
        bw.phase = "hard"
        assert bw().tolist() == want and bw.step_exponent() == e, rule
    # w = [1, .1, .1, .1]: the max-abs step is also the mse one (.03 against .28 at step 1/2)
    bw = BitPlaneWeight(torch.tensor([1.0, 0.1, 0.1, 0.1]), n_bits=1)
    bw.start_finetune(from_current=False, step_rule="mse")
    assert bw.step_exponent() is not None and bw.frozen_step() == 1.0


def test_activation_recalibration_restarts_the_range():
    from csq_hw.quant.act_quant import ActQuant

    q = ActQuant(bits=8)
    q.train()
    q(torch.tensor([-3.0, 1.0]))  # first batch: signed, running max 3
    q(torch.tensor([1.0, 0.5]))  # EMA, momentum 0.1: 0.9 * 3 + 0.1 * 1 = 2.8
    assert q.k == 1 and float(q.running_max) == pytest.approx(2.8)
    q.restart_calibration()
    q(torch.tensor([0.5, 1.0]))  # the first batch after a restart sets the maximum as it is
    assert float(q.running_max) == 1.0 and q.k == 1  # signedness kept
    q.phase = "hard"
    q(torch.tensor([7.0]))
    assert float(q.running_max) == 1.0  # frozen in the hard phase ...
    q.calibrating = True
    q(torch.tensor([6.0]))
    assert float(q.running_max) == pytest.approx(0.9 * 1.0 + 0.1 * 6.0)  # ... unless the trainer says calibrate
