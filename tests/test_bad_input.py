"""Issue 12, one test per case: bad input and edited files get one line, exit 2, and no wrong answer left behind.

Each case was a traceback, a silent wrong result or a misleading message before; the test names the case.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings

import numpy as np
import pytest

from csq_hw import TrainConfig, train_run
from csq_hw.cli.main import main
from csq_hw.errors import CsqWarning, UserError
from csq_hw.handoff.precisions import consistency_errors, read_precisions, validate_precisions
from csq_hw.train.run_checks import loss_warnings

TRAIN = ["train", "--model", "digits-mlp", "--dataset", "digits", "--budget", "size=u3", "--no-progress"]


def _one_line(capsys, code, *words):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if not ln.startswith(("csq-hw: warning:", "export ["))]  # not progress
    assert len(lines) == 1 and lines[0].startswith("csq-hw: error:"), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 2-epoch digits run (size=u3), copied by each test that edits it."""
    out = tmp_path_factory.mktemp("trained") / "run"
    train_run(
        TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u3", epochs=2), out, progress=False
    )
    return out


@pytest.fixture()
def run(trained, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(trained, dst)
    return dst


def _edit(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


# --- precisions.json: consistent with itself, and the pair with the run -----------------------------------------


@pytest.mark.parametrize(
    "field, change, words",
    [
        ("bits", lambda w, q: w.update(bits=w["bits"] + 2), ["weight.bits is", "positions are listed"]),
        ("span", lambda w, q: w.update(span_bits=w["span_bits"] + 1), ["span_bits", "max - min + 1"]),
        ("f", lambda w, q: w.update(f=w["f"] + 1), ["weight.f is", "step_exponent and positions give"]),
        ("int_max", lambda w, q: w.update(int_max=10**6), ["int_min/int_max", "outside the positions' range"]),
        ("input bits", lambda w, q: q.update(bits=q["bits"] + 1), ["input.bits is", "k + i + f"]),
        ("positions", lambda w, q: w.update(positions=w["positions"][::-1]), ["not sorted ascending"]),
    ],
)
def test_inconsistent_precisions_are_named(run, field, change, words):
    prec = json.loads((run / "precisions.json").read_text())
    layer = prec["layers"][1]
    if field == "positions" and len(layer["weight"]["positions"]) < 2:
        pytest.skip("layer has fewer than two positions")
    change(layer["weight"], layer["input"])
    assert consistency_errors(prec)  # the contradiction is found ...
    with pytest.raises(UserError) as info:  # ... and named in one line
        validate_precisions(prec, "p.json")
    for w in words:
        assert w in str(info.value)
    assert "layers[1]" in str(info.value)


def test_trained_precisions_are_consistent(trained):
    assert consistency_errors(read_precisions(trained)) == []


def test_typed_view_round_trips(trained):
    from csq_hw.handoff.precision_types import Precisions

    doc = json.loads((trained / "precisions.json").read_text())
    typed = Precisions.of(doc)
    assert typed.to_dict() == doc  # nothing lost or invented
    first = typed.layers[0]
    assert first.weight.bits == len(first.weight.positions) == doc["layers"][0]["weight"]["bits"]
    assert first.input.width == first.input.bits and typed.layer(first.name) is first


def test_shipped_json_schema_validates_a_trained_run(trained):
    # other tools validate with the shipped file alone (jsonschema); it is the schema the readers use
    import jsonschema

    from csq_hw.handoff.precisions import JSON_SCHEMA, SCHEMA_FILE

    shipped = json.loads(SCHEMA_FILE.read_text())
    assert shipped == JSON_SCHEMA
    jsonschema.validate(json.loads((trained / "precisions.json").read_text()), shipped)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema": "csq-hw/precisions", "version": 1}, shipped)


@pytest.mark.parametrize(
    "text, words",
    [
        ("[1, 2]", ["holds a JSON list, not an object"]),
        ("{not json", ["is not valid JSON"]),
        ("", ["is not valid JSON"]),
    ],
)
@pytest.mark.parametrize("command", ["export", "cost"])
def test_precisions_not_an_object_cost_and_export(run, capsys, tmp_path, text, words, command):
    (run / "precisions.json").write_text(text)
    argv = ["export", str(run), "--out", str(tmp_path / "prj")] if command == "export" else ["cost", "--run", str(run)]
    _one_line(capsys, main(argv), *words)
    assert not (tmp_path / "prj").exists()


def test_precisions_without_a_layer_input(run, capsys):
    _edit(run / "precisions.json", lambda p: p["layers"][0].pop("input"))
    _one_line(capsys, main(["cost", "--run", str(run)]), "layers[0]", "'input' is a required property")


def test_hand_edited_activation_format_is_refused(run, capsys, tmp_path):
    # a self-consistent edit (i - 1, f + 1: same width) that the old check exported as "0 mismatches"
    def shift(p):
        q = p["layers"][1]["input"]
        q["i"], q["f"] = q["i"] - 1, q["f"] + 1
        q["range_exponent"], q["step_exponent"] = q["i"], -q["f"]

    _edit(run / "precisions.json", shift)
    _one_line(capsys, main(["export", str(run), "--out", str(tmp_path / "p")]), "layers[1].input.i", "another run")


def test_another_runs_pair_is_refused(run, capsys, tmp_path):
    other = tmp_path / "other"
    train_run(TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u4", epochs=2, seed=1), other,
              progress=False)  # fmt: skip
    for name in ("precisions.json", "exact_model.pt"):
        shutil.copy(other / name, run / name)
    _one_line(capsys, main(["export", str(run), "--out", str(tmp_path / "p")]), "changed after training", "SHA-256")


@pytest.mark.hls
def test_firmware_accuracy_must_equal_the_runs(run, capsys, tmp_path):
    pytest.importorskip("hls4ml")
    _edit(run / "summary.json", lambda s: s.update(test_acc=s["test_acc"] - 0.1))
    _one_line(capsys, main(["export", str(run), "--out", str(tmp_path / "p")]), "differs from summary.json test_acc")
    assert not (tmp_path / "p").exists()  # the project went to p.failed, nothing at --out
    report = json.loads((tmp_path / "p.failed" / "csq_report.json").read_text())
    assert "differs from summary.json" in report["run_check"]["error"]


def test_exact_state_records_its_precisions(trained):
    import torch

    blob = torch.load(trained / "exact_model.pt", weights_only=True)
    assert blob["precisions"] == json.loads((trained / "precisions.json").read_text())
    summary = json.loads((trained / "summary.json").read_text())
    assert set(summary["files"]) == {"precisions.json", "exact_model.pt"}


# --- training input ------------------------------------------------------------------------------------------------


def _npz(path, scale, n=120, labels=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 64)).astype(np.float64) * scale
    y = rng.integers(0, 10, n) if labels is None else labels
    np.savez(path, x_train=x, y_train=y, x_test=x[:40], y_test=y[:40])
    return path


def test_features_scaled_by_1e30_are_refused(tmp_path, capsys):
    data = _npz(tmp_path / "huge.npz", 1e30)
    code = main([*TRAIN, "--dataset", f"npz:{data}", "--epochs", "1", "--out", str(tmp_path / "r")])
    _one_line(capsys, code, "beyond 2^40", "standardize")
    assert not (tmp_path / "r").exists()


def test_large_features_warn(tmp_path):
    from csq_hw.data import load_dataset

    with pytest.warns(CsqWarning, match="beyond 2\\^16"):
        load_dataset(f"npz:{_npz(tmp_path / 'big.npz', 1e5)}")


def test_diverging_loss_warns():
    # chance loss for 10 classes is ln 10 = 2.30; the limit is max(100 * 2.30, 10 * first) = 230.3
    rows = [{"epoch": 0, "train_loss": 2.0}, {"epoch": 1, "train_loss": 400.0}]
    assert "reached 400 at epoch 1" in loss_warnings(rows, 10)[0]
    assert loss_warnings([{"epoch": 0, "train_loss": 2.0}, {"epoch": 1, "train_loss": 19.0}], 10) == []


def test_run_at_chance_warns_and_is_recorded(tmp_path):
    # random labels: nothing to learn, the test accuracy stays near 1/10
    data = _npz(tmp_path / "noise.npz", 1.0, n=400)
    cfg = TrainConfig.from_flat(model="digits-mlp", dataset=f"npz:{data}", budget="size=u3", epochs=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = train_run(cfg, tmp_path / "r", progress=False)
    if summary["test_acc"] >= 0.15:
        pytest.skip(f"the noise run scored {summary['test_acc']:.3f}, not near chance")
    assert any("near chance" in str(w.message) for w in caught if issubclass(w.category, CsqWarning))
    assert any("near chance" in w for w in summary["warnings"])


def test_nan_loss_names_the_true_checkpoint_state(tmp_path, capsys):
    code = main([*TRAIN, "--epochs", "2", "--lr", "1e30", "--out", str(tmp_path / "r")])
    err = _one_line(capsys, code, "loss became")
    assert "no epoch completed, so no checkpoint was written" in err
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--device", "tpu"], ["device 'tpu' is not one csq-hw trains on"]),
        (["--device", "meta"], ["device 'meta'"]),
        (["--mask-init", "nan"], ["mask_init=nan", "finite"]),
        (["--lr", "inf"], ["lr=inf"]),
        (["--allow-changes"], ["--allow-changes applies to --resume only"]),
    ],
)
def test_bad_train_flags(tmp_path, capsys, extra, words):
    _one_line(capsys, main([*TRAIN, "--epochs", "1", "--out", str(tmp_path / "r"), *extra]), *words)
    assert not (tmp_path / "r").exists()


def test_out_is_a_file_train(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    _one_line(capsys, main([*TRAIN, "--epochs", "1", "--out", str(tmp_path / "f")]), "is a file")


def test_flat_toml_says_where_the_key_belongs(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('model = "digits-mlp"\nepochs = 3\n')
    code = main(["train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r")])
    _one_line(capsys, code, "'model' stands outside any section", "under [model] as name")


def test_cost_bias_bits_must_be_a_width(capsys):
    _one_line(capsys, main(["cost", "--model", "digits-mlp", "--bits", "4", "--bias-bits", "-3"]), "--bias-bits -3")


# --- resume ----------------------------------------------------------------------------------------------------------


def test_resume_with_other_epochs_is_refused_then_allowed(run, capsys):
    ckpt_before = (run / "checkpoint.pt").read_bytes()
    base = [*TRAIN, "--out", str(run), "--resume"]
    _one_line(capsys, main([*base, "--epochs", "3"]), "other settings (epochs 2 -> 3)", "--allow-changes")
    assert (run / "checkpoint.pt").read_bytes() == ckpt_before
    # 2 -> 3 epochs moves the default ticket from round(2/3) = 1 to round(3/3) = 1: the same side of epoch 2
    assert main([*base, "--epochs", "3", "--allow-changes"]) == 0
    err = capsys.readouterr().err
    assert "resuming at epoch 2 with changed settings (epochs 2 -> 3)" in err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 3
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 3  # header + the 2 old epochs + the new one


def test_resume_that_moves_the_ticket_across_is_refused(run, capsys):
    # the checkpoint is at epoch 2, after the ticket (epoch 1); --ticket-epoch 2 would put epoch 1 back in search
    code = main([*TRAIN, "--out", str(run), "--resume", "--epochs", "4", "--ticket-epoch", "3", "--allow-changes"])
    _one_line(capsys, code, "move the hand-over (ticket) from epoch 1 to 3", "already in the hard phase")


def test_resume_may_not_change_the_model(run, capsys):
    code = main([*TRAIN, "--out", str(run), "--resume", "--max-bits", "6", "--allow-changes", "--epochs", "2"])
    _one_line(capsys, code, "max_bits 8 -> 6", "cannot change on resume")


def test_train_seconds_count_every_part_of_a_resumed_run(monkeypatch, tmp_path):
    from run_cuts import cut_after_checkpoint

    cfg = TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u3", epochs=3)
    cut_after_checkpoint(monkeypatch, cfg, tmp_path / "r", epoch=2)
    import torch

    before = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["train_seconds"]
    summary = train_run(cfg, tmp_path / "r", resume=True, progress=False)
    epochs = sum(r["seconds"] for r in summary_rows(tmp_path / "r"))
    assert before > 0 and summary["train_seconds"] >= before
    assert summary["train_seconds"] >= epochs  # all three epochs, not only the resumed one


def summary_rows(run_dir):
    import pandas as pd

    return pd.read_csv(run_dir / "metrics.csv").to_dict("records")


def test_checkpoint_with_missing_keys(run, capsys):
    import torch

    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    del ckpt["optimizer"]
    torch.save(ckpt, run / "checkpoint.pt")
    code = main([*TRAIN, "--epochs", "2", "--out", str(run), "--resume"])
    _one_line(capsys, code, "lacks optimizer", "damaged")


# --- export ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", ["0", "-5"])
def test_export_max_samples_must_be_positive(run, capsys, tmp_path, n):
    code = main(["export", str(run), "--out", str(tmp_path / "p"), "--max-samples", n])
    _one_line(capsys, code, f"--max-samples {n}")


def test_export_out_is_a_file(run, capsys):
    _one_line(capsys, main(["export", str(run), "--out", str(run / "config.toml")]), "is a file")


def test_export_will_not_replace_a_directory_that_is_not_a_project(run, capsys):
    _one_line(capsys, main(["export", str(run), "--out", str(run)]), "not an hls4ml project")
    assert (run / "summary.json").is_file()


@pytest.mark.parametrize("command", ["export", "cost"])
def test_truncated_exact_model(run, capsys, tmp_path, command):
    data = (run / "exact_model.pt").read_bytes()
    (run / "exact_model.pt").write_bytes(data[: len(data) // 2])
    argv = ["export", str(run), "--out", str(tmp_path / "p")] if command == "export" else ["cost", "--run", str(run)]
    _one_line(capsys, main(argv), "exact_model.pt is unreadable", "truncated")


def test_distributed_arithmetic_without_da4ml(run, capsys, tmp_path, monkeypatch):
    pytest.importorskip("hls4ml")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "da4ml" else real(name, *a))
    code = main(["export", str(run), "--out", str(tmp_path / "p"), "--strategy", "distributed_arithmetic"])
    _one_line(capsys, code, "needs da4ml", "pip install")


def test_export_without_gpp_names_the_compiler(run, capsys, tmp_path, monkeypatch):
    pytest.importorskip("hls4ml")
    import shutil as sh

    real = sh.which
    monkeypatch.setattr(sh, "which", lambda name, *a, **k: None if name == "g++" else real(name, *a, **k))
    _one_line(capsys, main(["export", str(run), "--out", str(tmp_path / "p")]), "g++, which is not on PATH")


@pytest.mark.hls
def test_run_without_config_toml_names_a_real_flag(run, capsys, tmp_path):
    pytest.importorskip("hls4ml")
    (run / "config.toml").unlink()
    _one_line(capsys, main(["export", str(run), "--out", str(tmp_path / "p")]), "pass --dataset NAME")
    assert main(["export", str(run), "--out", str(tmp_path / "p"), "--dataset", "digits"]) == 0
    report = json.loads((tmp_path / "p" / "csq_report.json").read_text())
    acc = report["run_check"]["accuracy"]
    assert report["bit_exact"] and math.isclose(acc["firmware_test_acc"], acc["run_test_acc"])


def test_huge_input_format_is_refused(run, capsys, tmp_path):
    # what a run on 1e30-scaled features wrote: an input range of 2^100 (i = 100), beyond exact float64 arithmetic
    from hls.run_files import load_precisions

    def huge(p):
        q = p["layers"][0]["input"]
        q["i"], q["f"] = 100, q["bits"] - q["k"] - 100  # the same width, k + i + f = bits
        q["range_exponent"], q["step_exponent"] = q["i"], -q["f"]

    _edit(run / "precisions.json", huge)
    with pytest.raises(UserError, match="beyond exact arithmetic"):
        load_precisions(run / "precisions.json")
