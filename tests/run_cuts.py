"""Cutting a training run short right after one epoch's checkpoint, as a kill would (for the resume tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

import csq_hw.train.train_run as run_mod
from csq_hw import TrainConfig, train_run


class Killed(Exception):
    """Raised in place of the process dying."""


def cut_after_checkpoint(
    monkeypatch: pytest.MonkeyPatch, cfg: TrainConfig, out: Path, epoch: int, exc: type[BaseException] = Killed
) -> None:
    """Train ``cfg`` into ``out`` and stop with ``exc`` right after the checkpoint that records ``epoch`` finished
    epochs (so a resume starts at epoch ``epoch``); ``save_checkpoint`` is restored afterwards."""
    real_save = run_mod.save_checkpoint

    def save_then_die(out_dir, **payload):
        real_save(out_dir, **payload)
        if payload["epoch"] == epoch:
            raise exc

    monkeypatch.setattr(run_mod, "save_checkpoint", save_then_die)
    with pytest.raises(exc):
        train_run(cfg, out, progress=False)
    monkeypatch.setattr(run_mod, "save_checkpoint", real_save)
