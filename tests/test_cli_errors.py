"""Bad input to ``csq-hw train``: one clear line on stderr, exit code 2, nothing half-written."""

from __future__ import annotations

import pytest
import torch

import csq_hw.train.trainer as trainer_mod
from csq_hw.cli.main import main

BASE = ["train", "--model", "digits-mlp", "--dataset", "digits", "--epochs", "2", "--no-progress"]


def _run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def _assert_clean_failure(code, err, out_dir, *words):
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("csq-hw: error:"), err
    for w in words:
        assert w in err, (w, err)
    if out_dir.exists():  # nothing half-written: no temp files, no partial outputs
        names = {p.name for p in out_dir.iterdir()}
        assert not any(n.endswith(".tmp") for n in names)
        assert "precisions.json" not in names and "summary.json" not in names


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--model", "nope"], ["unknown model 'nope'", "digits-mlp"]),
        (["--dataset", "nope"], ["unknown data set", "digits"]),
        (["--budget", "watts=3"], ["unknown cost kind 'watts'", "size"]),
        (["--budget", "size=5"], ["below the cheapest", "raise the budget"]),
        (["--budget", "size=1e9"], ["above the dearest", "lower the budget"]),
        (["--budget", "size"], ["KIND=VALUE"]),
        (["--dataset", "npz:/nonexistent/x.npz"], ["/nonexistent/x.npz"]),
        (["--act-bits", "banana"], ["act_bits"]),
        (["--max-bits", "40"], ["max_bits=40"]),
    ],
)
def test_bad_flags(capsys, tmp_path, extra, words):
    out = tmp_path / "run"
    code, err = _run(capsys, [*BASE, "--budget", "size=u3", "--out", str(out), *extra])
    _assert_clean_failure(code, err, out, *words)
    assert not out.exists()


def test_missing_config(capsys, tmp_path):
    code, err = _run(capsys, ["train", "--config", str(tmp_path / "none.toml"), "--out", str(tmp_path / "r")])
    _assert_clean_failure(code, err, tmp_path / "r", "not found")


@pytest.mark.parametrize(
    "text, words",
    [
        ("[model\nname = 1", ["not valid TOML"]),
        ("[model]\ncolour = 'red'\n", ["unknown key 'colour'"]),
        ("[weird]\nx = 1\n", ["unknown section [weird]"]),
        ("[train]\nepochs = 'many'\n", ["epochs", "integer"]),
    ],
)
def test_malformed_config(capsys, tmp_path, text, words):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    code, err = _run(capsys, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    _assert_clean_failure(code, err, tmp_path / "r", *words)


def test_config_file_is_used(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nname = "nope-from-toml"\n')
    code, err = _run(capsys, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    _assert_clean_failure(code, err, tmp_path / "r", "nope-from-toml")


def test_malformed_data_file(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    code, err = _run(capsys, [*BASE, "--budget", "size=u3", "--dataset", f"npz:{bad}", "--out", str(tmp_path / "r")])
    _assert_clean_failure(code, err, tmp_path / "r", "bad.npz")


def test_resume_without_checkpoint(capsys, tmp_path):
    code, err = _run(capsys, [*BASE, "--budget", "size=u3", "--out", str(tmp_path / "r"), "--resume"])
    _assert_clean_failure(code, err, tmp_path / "r", "no checkpoint", "without --resume")


def test_resume_with_corrupt_checkpoint(capsys, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"garbage")
    code, err = _run(capsys, [*BASE, "--budget", "size=u3", "--out", str(out), "--resume"])
    _assert_clean_failure(code, err, out, "unreadable")


def test_existing_run_needs_resume(capsys, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    torch.save({"format": "csq-hw/checkpoint"}, out / "checkpoint.pt")
    code, err = _run(capsys, [*BASE, "--budget", "size=u3", "--out", str(out)])
    _assert_clean_failure(code, err, out, "already holds a run", "--resume")


def test_nan_loss(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_mod.F, "cross_entropy", lambda logits, y: logits.sum() * float("nan"))
    out = tmp_path / "r"
    code, err = _run(capsys, [*BASE, "--budget", "size=u3", "--out", str(out)])
    _assert_clean_failure(code, err, out, "loss became nan", "lower --lr")


def test_no_command_prints_help(capsys):
    assert main([]) == 2
