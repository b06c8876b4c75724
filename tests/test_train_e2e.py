"""End to end: a CSQ run on digits, its outputs, exact-vs-hard agreement, and kill/resume equivalence."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from run_cuts import cut_after_checkpoint

from csq_hw import TrainConfig, build_exact_model, train_run
from csq_hw.data import load_dataset
from csq_hw.train.trainer import evaluate

FAST = dict(model="digits-mlp", dataset="digits", budget="size=u3", epochs=10, seed=1)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = train_run(TrainConfig.from_flat(**FAST), out, progress=False)
    return out, summary


def test_end_to_end_digits_outputs(digits_run):
    out, summary = digits_run
    for name in ("config.toml", "metrics.csv", "checkpoint.pt", "precisions.json", "exact_model.pt", "summary.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))  # nothing half-written left behind
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.epoch) == list(range(10))
    assert summary["test_acc"] > 0.85  # float MLP ~97 %; 10 CSQ epochs at ~3 bits reach ~89 %
    assert summary["cost_over_budget"] <= 1.0
    assert summary["budget"] == {"cost": "size", "value": 21088.0, "unit": "bit", "spec": "size=u3"}
    # u3: 6464 weights * 3 bits + 106 biases * 16 bits = 19392 + 1696 = 21088
    assert {"size", "size:span"} <= set(summary["costs"])
    assert [row["name"] for row in summary["layers"]] == ["0", "2", "4"]
    assert json.loads((out / "summary.json").read_text())["test_acc"] == summary["test_acc"]


def test_exact_model_matches_hard_phase_model(digits_run):
    out, summary = digits_run
    # the hard phase runs the exact weights and quantizers (straight-through only in the backward pass)
    assert summary["test_acc"] == summary["hard_model_test_acc"]
    # the hand-over keeps what the search found: the exact model is no worse than the best search-phase (soft)
    # model, to within half a point (the straight-through fine-tune usually ends well above it)
    metrics = pd.read_csv(out / "metrics.csv")
    assert summary["test_acc"] >= metrics[metrics.phase == "search"].test_acc.max() - 0.005
    # the saved exact model reloads and reproduces the reported accuracy
    precisions = json.loads((out / "precisions.json").read_text())
    assert precisions["schema"] == "csq-hw/precisions" and precisions["version"] == 1
    model = build_exact_model(precisions)
    model.load_state_dict(torch.load(out / "exact_model.pt")["state_dict"])
    data = load_dataset("digits").reshaped((64,))
    acc = evaluate(model.double(), torch.as_tensor(data.x_test).double(), torch.as_tensor(data.y_test))
    assert acc == summary["test_acc"]
    for layer in precisions["layers"]:
        w = model.get_submodule(layer["name"]).layer.weight.detach().double()
        ints = w / 2.0 ** layer["weight"]["step_exponent"]
        assert torch.equal(ints, torch.round(ints))  # on the 2^e grid
        assert int(ints.abs().max()) <= sum(2**b for b in layer["weight"]["positions"])


def test_killed_run_resumes_to_same_precisions(tmp_path, monkeypatch):
    cfg = TrainConfig.from_flat(
        model="digits-mlp", dataset="digits", budget="size=u3", epochs=5, ticket_epoch=3, seed=3
    )
    full = train_run(cfg, tmp_path / "full", progress=False)
    cut_after_checkpoint(monkeypatch, cfg, tmp_path / "cut", epoch=2)  # killed right after epoch 1's checkpoint
    resumed = train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    p_full = json.loads((tmp_path / "full" / "precisions.json").read_text())
    p_cut = json.loads((tmp_path / "cut" / "precisions.json").read_text())
    assert p_full == p_cut
    assert resumed["test_acc"] == full["test_acc"]
    assert len(pd.read_csv(tmp_path / "cut" / "metrics.csv")) == 5


def test_killed_run_with_the_plane_memory_options_resumes_to_the_same_model(tmp_path, monkeypatch):
    """bfloat16 plane moments with the update in backward (#17): a run killed after a checkpoint resumes to what the
    uninterrupted run gives (the rounding streams are seeded by the step), and its exact model is its hard model."""
    cfg = TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u3", epochs=5, ticket_epoch=3,
                                seed=3, plane_adam_state="bfloat16", plane_step_in_backward=True)  # fmt: skip
    full = train_run(cfg, tmp_path / "full", progress=False)
    cut_after_checkpoint(monkeypatch, cfg, tmp_path / "cut", epoch=2)
    resumed = train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    p_full = json.loads((tmp_path / "full" / "precisions.json").read_text())
    assert p_full == json.loads((tmp_path / "cut" / "precisions.json").read_text())
    assert resumed["test_acc"] == full["test_acc"] == full["hard_model_test_acc"]
    assert full["test_acc"] > 0.5


def test_settle_epochs_turn_the_budget_term_off_before_the_ticket(tmp_path):
    cfg = TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u3", epochs=4, ticket_epoch=3,
                      settle_epochs=1, seed=2)  # fmt: skip
    train_run(cfg, tmp_path / "r", progress=False)
    coef = pd.read_csv(tmp_path / "r" / "metrics.csv").reg_coefficient.tolist()
    # epochs 0, 1: budget term on (its last coefficient (C_hard - B) / B is non-zero: the cost moves around the
    # budget); epoch 2 settles without it; epoch 3 is the hard phase (no term)
    assert coef[0] != 0.0 and coef[1] != 0.0 and coef[2] == 0.0 and coef[3] == 0.0


def test_settle_epochs_validated():
    with pytest.raises(Exception, match="settle_epochs"):
        TrainConfig.from_flat(epochs=10, ticket_epoch=5, settle_epochs=6)
