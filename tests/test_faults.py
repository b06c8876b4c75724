"""Fault injection (issue 12): kills, a full disk, concurrent writers and damaged files leave no wrong answer behind.

"No wrong answer" means: no file that claims a result it does not hold (a report saying bit-exact for sources that
were never compiled, a run directory mixing two runs, a half-written file), and every failure is one line, exit 2.
Kills happen in real subprocesses (SIGKILL cannot be simulated in-process); the kill times come from a seeded RNG.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from csq_hw import TrainConfig, train_run
from csq_hw.cli.main import main
from csq_hw.errors import UserError
from csq_hw.runtime.run_lock import LOCK_NAME, DirectoryLock

TRAIN = ["train", "--model", "digits-mlp", "--dataset", "digits", "--budget", "size=u3", "--no-progress"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CSQ_HW_TORCH_THREADS": "1"}


def _cli(*argv: str) -> subprocess.Popen:
    code = "import sys, torch; torch.set_num_threads(1); from csq_hw.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *argv], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _one_line(capsys, code, *words):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if not ln.startswith("export [")]  # export's progress lines
    assert len(lines) == 1 and lines[0].startswith("csq-hw: error:") and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "run"
    train_run(
        TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u3", epochs=2), out, progress=False
    )
    return out


@pytest.fixture()
def run(trained, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(trained, dst)
    return dst


# --- SIGKILL during training -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_same_precisions(tmp_path):
    args = [*TRAIN, "--epochs", "4"]
    ref = tmp_path / "ref"
    code, err = _finish(_cli(*args, "--out", str(ref)))
    assert code == 0, err
    out, rng, kills = tmp_path / "cut", random.Random(12), 0
    proc = _cli(*args, "--out", str(out))
    while True:  # kill at a random moment after the first checkpoint, resume, repeat until the run ends
        deadline = time.time() + 120
        while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is not None or kills == 2:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        assert not (out / "summary.json").exists() or (out / "precisions.json").exists()
        # a kill between an atomic write's temp file and its rename may leave the temp file (a SIGKILL cannot be
        # caught), never a half-written file under a final name: every checkpoint present loads
        for name in ("checkpoint.pt", "exact_model.pt"):
            if (out / name).exists():
                torch.load(out / name, map_location="cpu", weights_only=False)
        proc = _cli(*args, "--out", str(out), "--resume")
    code, err = _finish(proc)
    assert code == 0, err
    assert not list(out.glob("*.tmp"))  # the resumed run removed what a killed one left
    assert kills >= 1
    assert (out / "precisions.json").read_bytes() == (ref / "precisions.json").read_bytes()


# --- concurrent writers ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_trainings_into_one_directory(tmp_path):
    out = tmp_path / "run"
    procs = [_cli(*TRAIN, "--epochs", "3", "--seed", str(seed), "--out", str(out)) for seed in (1, 2)]
    results = [_finish(p) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "is in use by `csq-hw train`" in loser or "already holds a run" in loser, loser
    winner_seed = json.loads((out / "summary.json").read_text())["seed"]
    assert f"seed = {winner_seed}" in (out / "config.toml").read_text()  # config and results from the same run
    assert not (out / LOCK_NAME).exists()


def test_a_live_holder_refuses_and_a_dead_one_is_taken_over(tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u3", epochs=1)
    with DirectoryLock(out, "test"):
        with pytest.raises(UserError, match=rf"in use by `csq-hw test` \(pid {os.getpid()} on"):
            train_run(cfg, out, progress=False)
    # a holder killed outright leaves its lock file (with its pid) behind; the kernel dropped its flock
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from csq_hw.runtime.run_lock import DirectoryLock; "
        "DirectoryLock(sys.argv[1], 'train').acquire(); "
        "print('held', flush=True); time.sleep(60)"), str(out)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == holder.pid
    assert train_run(cfg, out, progress=False)["epochs"] == 1
    assert not (out / LOCK_NAME).exists()


def test_atomic_write_gives_the_mode_a_plain_open_would(tmp_path):
    import csq_hw.runtime.atomic_io as aio

    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # open() honours the umask: 0666 & ~umask (0644 under umask 022)
    made = aio.write_text(tmp_path / "made.txt", "x")  # mkstemp alone would leave 0600
    assert made.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    os.chmod(made, 0o640)
    aio.write_text(made, "y")  # replacing a file keeps its mode
    assert made.stat().st_mode & 0o777 == 0o640 and made.read_text() == "y"


# --- a full disk -----------------------------------------------------------------------------------------------------


def test_full_disk_keeps_the_previous_file_and_no_temp(tmp_path, monkeypatch):
    import csq_hw.runtime.atomic_io as aio

    target = tmp_path / "summary.json"
    aio.write_json(target, {"ok": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(aio.os, "fsync", full)
    with pytest.raises(UserError, match="No space left on device; the previous summary.json is intact"):
        aio.write_json(target, {"ok": 2})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_full_disk_during_training_is_one_line_and_resumable(tmp_path, monkeypatch, capsys):
    import csq_hw.runtime.atomic_io as aio

    out = tmp_path / "run"
    real_fsync, calls = aio.os.fsync, {"n": 0}

    def full_after_first_epoch(fd):
        calls["n"] += 1
        if calls["n"] > 3:  # config.toml, metrics.csv, checkpoint.pt of epoch 0 get written; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(aio.os, "fsync", full_after_first_epoch)
    _one_line(capsys, main([*TRAIN, "--epochs", "3", "--out", str(out)]), "could not write", "No space left")
    monkeypatch.setattr(aio.os, "fsync", real_fsync)
    assert not list(out.glob(".*.tmp")) and not (out / "summary.json").exists()
    assert main([*TRAIN, "--epochs", "3", "--out", str(out), "--resume"]) == 0  # epoch 0's checkpoint was intact
    assert json.loads((out / "summary.json").read_text())["epochs"] == 3


# --- export: failed, interrupted and killed ---------------------------------------------------------------------


def _report(project: Path) -> bytes:
    return (project / "csq_report.json").read_bytes()


@pytest.fixture()
def exported(run, tmp_path):
    pytest.importorskip("hls4ml")
    project = tmp_path / "prj"
    assert main(["export", str(run), "--out", str(project)]) == 0
    assert json.loads(_report(project))["bit_exact"] is True
    return run, project


@pytest.mark.hls
@pytest.mark.parametrize("fault", [RuntimeError, KeyboardInterrupt])
def test_failed_or_interrupted_reexport_leaves_the_previous_project(exported, monkeypatch, capsys, fault):
    from hls4ml.model.graph import ModelGraph

    run, project = exported
    before = {p.relative_to(project): p.read_bytes() for p in project.rglob("*") if p.is_file()}

    def broken_compile(self):
        self.write()  # the sources are rewritten (in the staging directory) ... then g++ fails or Ctrl-C comes
        raise fault("compile failed")

    monkeypatch.setattr(ModelGraph, "compile", broken_compile)
    code = main(["export", str(run), "--out", str(project)])
    err = capsys.readouterr().err
    after = {p.relative_to(project): p.read_bytes() for p in project.rglob("*") if p.is_file()}
    assert after == before  # the old report, .so and sources, byte for byte
    assert not list(project.parent.glob(".prj.export-*"))
    if fault is KeyboardInterrupt:
        assert code == 130 and "--out is as it was" in err
        assert not (project.parent / "prj.failed").exists()
    else:
        assert code == 2 and "did not compile" in err and "prj.failed" in err
        assert (project.parent / "prj.failed" / "hls4ml.log").is_file()
        assert not (project.parent / "prj.failed" / "csq_report.json").exists()  # never a report for it


@pytest.mark.hls
@pytest.mark.slow
def test_sigkill_during_export_then_export_again(exported):
    run, project = exported
    before = _report(project)
    proc = _cli("export", str(run), "--out", str(project))
    deadline = time.time() + 120
    while not list(project.parent.glob(".prj.export-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(random.Random(3).uniform(0.2, 1.5))  # somewhere in convert / write / g++
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _report(project) == before  # untouched (or, had the kill come after the rename, the new checked one)
    assert json.loads(_report(project))["bit_exact"] is True
    code, err = _finish(_cli("export", str(run), "--out", str(project)))
    assert code == 0, err
    assert not list(project.parent.glob(".prj.export-*"))  # the killed export's staging directory is gone


# --- damaged files of every kind the project reads --------------------------------------------------------------


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    garbage = random.Random(f"{path.name}-{len(data)}").randbytes(64)  # seeded: the same bytes on every run
    # "pickle": a legacy pickle header with an unknown protocol (torch warns before it fails: the warning must not
    # reach the user's one line)
    damaged = {"truncated": data[: len(data) // 2], "empty": b"", "garbage": garbage, "pickle": b"\x80\xa1" + garbage}
    path.write_bytes(damaged[how])


_EXPORT = lambda r, t: ["export", str(r), "--out", str(t / "p")]  # noqa: E731
_COST = lambda r, t: ["cost", "--run", str(r)]  # noqa: E731
_RESUME = lambda r, t: [*TRAIN, "--epochs", "2", "--out", str(r), "--resume"]  # noqa: E731
_CONFIG = lambda r, t: ["train", "--config", str(r / "config.toml"), "--out", str(t / "new")]  # noqa: E731
_ALL = ("truncated", "empty", "garbage")
# (file, consumer, damages): a truncated or empty config.toml can still be valid TOML (the defaults), so it is
# damaged with garbage only; every other file with all three
_CASES = [
    *[("checkpoint.pt", _RESUME, h) for h in (*_ALL, "pickle")],
    *[("exact_model.pt", c, h) for c in (_EXPORT, _COST) for h in (*_ALL, "pickle")],
    *[("precisions.json", c, h) for c in (_EXPORT, _COST) for h in _ALL],
    *[("summary.json", _EXPORT, h) for h in _ALL],
    ("config.toml", _EXPORT, "garbage"),
    ("config.toml", _CONFIG, "garbage"),
    ("config.toml", _CONFIG, "truncated"),
]


@pytest.mark.parametrize("name, argv, how", _CASES)
def test_damaged_run_files(run, tmp_path, capsys, name, argv, how):
    _damage(run / name, how)
    _one_line(capsys, main(argv(run, tmp_path)))
    assert not (tmp_path / "p").exists() and not (tmp_path / "new" / "summary.json").exists()


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage"])
def test_damaged_sweep_files(run, tmp_path, how):
    from csq_hw.sweep.table import read_results, read_run

    _damage(run / "summary.json", how)
    with pytest.raises(UserError, match="summary.json"):
        read_run(run)
    table = tmp_path / "results.csv"
    table.write_text("method,budget_spec,test_acc,run_dir\ncsq,size=u3,0.9,r\n")
    _damage(table, how)
    with pytest.raises(UserError, match="results.csv"):
        read_results(table)


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage"])
def test_damaged_data_and_tables(tmp_path, capsys, how):
    import numpy as np

    from cost_models import CostError
    from cost_models.table_io import load_table

    npz = tmp_path / "d.npz"
    x = np.random.default_rng(0).normal(size=(40, 64))
    np.savez(npz, x_train=x, y_train=np.arange(40) % 10, x_test=x, y_test=np.arange(40) % 10)
    _damage(npz, how)
    _one_line(capsys, main([*TRAIN, "--epochs", "1", "--dataset", f"npz:{npz}", "--out", str(tmp_path / "r")]), "d.npz")
    for name in ("lat.csv", "lat.npy"):
        table = tmp_path / name
        if name.endswith(".csv"):
            table.write_text("layer,w_bits,a_bits,value\n0,1,1,2\n0,1,2,3\n0,2,1,3\n0,2,2,5\n")
        else:
            np.save(table, np.arange(8.0).reshape(2, 2, 2))
            Path(f"{table}.layers.json").write_text('["0", "2"]')
        load_table(table)  # readable before the damage
        _damage(table, how)
        with pytest.raises(CostError, match=name):
            load_table(table)


def test_damaged_lock_file_does_not_block(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_bytes(os.urandom(40))  # no live holder: a damaged file is simply taken over
    with DirectoryLock(out, "train"):
        assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
