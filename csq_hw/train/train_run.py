"""``train_run``: a whole CSQ run into a directory, with checkpoints, resume and the exact model at the end.

The run directory holds: ``config.toml`` (resolved), ``metrics.csv`` (one row per epoch), ``checkpoint.pt``
(every epoch, atomic), ``precisions.json`` (docs/precisions_v1.md), ``exact_model.pt`` and ``summary.json``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from csq_hw.errors import TrainingDiverged, UserError
from csq_hw.quant.layer_bits import average_bits
from csq_hw.quant.layers import csq_layers
from csq_hw.runtime import distributed
from csq_hw.runtime.atomic_io import (
    remove_stale_temps,
    write_text,
)
from csq_hw.runtime.checkpoint import CHECKPOINT_NAME, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from csq_hw.runtime.progress import LoopProgress, check_log_format, epoch_fields
from csq_hw.runtime.run_lock import DirectoryLock
from csq_hw.train.budget import BudgetRegularizer
from csq_hw.train.config import TrainConfig, config_to_toml
from csq_hw.train.finish import TEST_DATA_NAME, finish_run, said
from csq_hw.train.lr_schedule import LrSchedule
from csq_hw.train.model_build import build_csq_model, seed_all
from csq_hw.train.optimizers import load_optimizer_state, make_optimizer
from csq_hw.train.pretrain import pretrain_float
from csq_hw.train.run_checks import check_resume_phase, loss_warnings, where_to_restart
from csq_hw.train.run_inputs import TrainInputs, inputs_from_config
from csq_hw.train.schedule import EpochPlan, Schedule
from csq_hw.train.trainer import evaluate, evaluate_loss, train_epoch

__all__ = ["train_run", "pick_device", "build_csq_model", "finish_run", "TEST_DATA_NAME"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def pick_device(name: str) -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``; anything else is a :class:`UserError`
    (torch also knows ``meta``, ``xla``, ... on which a training run cannot work)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise UserError(f"device {name!r} is not one csq-hw trains on; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s); use "
                            f"cuda:0..cuda:{torch.cuda.device_count() - 1}")  # fmt: skip
    return device


def train_run(
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    allow_changes: bool = False,
    inputs: TrainInputs | None = None,
    log_format: str = "bar",
) -> dict[str, Any]:
    """Train ``cfg`` into ``out_dir`` and return the summary (also written to ``summary.json``).

    ``progress`` (on stderr, rank 0): ``log_format="bar"``: a bar over epochs and, inside an epoch of many steps, a
    per-step bar; ``"plain"``: one line per epoch, no bars (:mod:`csq_hw.runtime.progress`).

    ``inputs``: the model, data and loss to train on (:func:`csq_hw.fit` passes a user's); default: what ``cfg``
    names (:func:`csq_hw.train.run_inputs.inputs_from_config`).

    The run directory is locked for the whole run (:class:`csq_hw.runtime.run_lock.DirectoryLock`): a second process
    writing into it gets a one-line error. ``allow_changes``: a resume may change schedule and optimizer numbers
    (:data:`csq_hw.runtime.checkpoint.RESUME_CHANGEABLE`); without it any change is refused with the list of changes.
    """
    out, log_format = Path(out_dir), check_log_format(log_format)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a directory; choose another --out")
    device = pick_device(cfg.train.device)
    if cfg.train.amp != "off" and device.type != "cuda":
        raise UserError(
            f'amp={cfg.train.amp!r} needs CUDA; pass --amp off (amp = "off" in a config) for {cfg.train.device!r}'
        )
    launch = distributed.env_world()
    lock = DirectoryLock(out, "train") if launch is None or launch[0] == 0 else None  # rank 0 writes the files
    with lock or contextlib.nullcontext():
        if lock is not None:  # we are the directory's only writer: a killed run's half-written temp files go
            remove_stale_temps(out)
        if not resume and (out / CHECKPOINT_NAME).exists():
            raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        return _train_locked(cfg, out, resume, progress, device, allow_changes, inputs, log_format)


def _train_locked(
    cfg: TrainConfig, out: Path, resume: bool, progress: bool, device: torch.device, allow_changes: bool,
    inputs: TrainInputs | None, log_format: str = "bar",
) -> dict[str, Any]:  # fmt: skip
    # under torchrun: join the job (gloo on CPU, NCCL on cuda:LOCAL_RANK); a no-op otherwise
    ctx, device = distributed.setup(device)
    torch.set_flush_denormal(True)  # Adam's second moments of bit-plane gradients underflow at high T
    clean = False
    try:
        summary = _train(cfg, out, resume, progress, device, allow_changes, inputs, log_format)
        clean = True
        return summary
    finally:
        torch.set_flush_denormal(False)  # torch's default; other code (hypothesis) checks for subnormals
        distributed.teardown(ctx, clean=clean)  # a barrier first when every rank got here


def _train(
    cfg: TrainConfig,
    out: Path,
    resume: bool,
    progress: bool,
    device: torch.device,
    allow_changes: bool = False,
    inputs: TrainInputs | None = None,
    log_format: str = "bar",
) -> dict[str, Any]:
    """The run: warm start, CSQ model, then the loop over epochs (steps, budget term, checkpoints); the schedule's
    changes to the layers are :class:`~csq_hw.train.schedule.Schedule`'s."""
    main = distributed.is_main()  # rank 0 writes every file and shows progress
    full_precision = () if inputs is not None else None
    if inputs is None:
        cfg, inputs = inputs_from_config(cfg, device)  # a spec model is sized by the data here
    else:
        cfg.budget.parsed.check_kinds()
    start = None if resume else _warm_start(cfg, inputs, full_precision, device, out, progress and main, log_format)
    model, geometry, budget = build_csq_model(cfg, start, inputs.input_shape, full_precision, inputs.float_model)
    model = _prepared(cfg, model, device)
    net = distributed.wrap_model(model, device)  # DDP under torchrun; ``model`` is always the unwrapped module
    schedule = Schedule(cfg)  # every per-epoch change to the layers (csq_hw.train.schedule)
    optimizer = _optimizer(cfg, model, finetune=cfg.train.qat)
    regularizer = BudgetRegularizer(budget, cfg.budget.strength) if cfg.searched else None
    lr_schedule = LrSchedule(cfg, -(-len(inputs.train_src) // cfg.data.batch_size), fresh=cfg.searched and schedule.ste)
    state = _RunState()
    if resume:
        state, optimizer = _resumed(cfg, out, model, optimizer, schedule, allow_changes, main)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "config.toml", config_to_toml(cfg))
    t0 = time.perf_counter() - state.seconds_before  # train_seconds counts every part of a resumed run
    report = LoopProgress(cfg.train.epochs, state.start_epoch, desc="csq", unit="epoch", log_format=log_format,
                          enabled=progress and main)  # fmt: skip
    for epoch in range(state.start_epoch, cfg.train.epochs):
        plan = schedule.plan(epoch)
        schedule.apply(model, plan)
        if plan.hand_over:
            optimizer = _hand_over(cfg, inputs, schedule, plan, model, geometry, budget, state, main) or optimizer
        elif schedule.keeps_budget(plan):
            _keep_budget(cfg, inputs, schedule, plan, model, geometry, budget, state, main)
        te = time.perf_counter()
        steps_done, total_steps, base_lr = lr_schedule.at(epoch)
        try:
            stats = train_epoch(
                net, inputs.train_src, optimizer=optimizer, regularizer=regularizer, geometry=geometry,
                batch_size=cfg.data.batch_size, seed=cfg.train.seed, epoch=epoch, steps_done=steps_done,
                total_steps=total_steps, base_lr=base_lr, searching=plan.budget_term,
                autocast=torch.bfloat16 if cfg.train.amp == "bf16" else None, loss_fn=inputs.loss_fn,
                step_progress=report.step_bars, compile=cfg.train.compile,
            )  # fmt: skip
        except TrainingDiverged as exc:
            raise UserError(f"{exc}; {where_to_restart(out, epoch)}") from None
        state.rows.append(_epoch_row(plan, stats, model, geometry, budget, inputs, main) | {
            "seconds": time.perf_counter() - te})  # fmt: skip
        if main:
            report.update(epoch_fields(state.rows[-1], plain=report.plain),
                          label=f"{epoch} ({epoch + 1}/{cfg.train.epochs})")  # fmt: skip
            _save_epoch(out, cfg, epoch, model, optimizer, state, time.perf_counter() - t0)
    report.close()
    summary = None
    if main:
        model = distributed.from_sync_batchnorm(model)
        warned = loss_warnings(state.rows, inputs.n_outputs if inputs.loss_fn is None else None)
        summary = finish_run(cfg, out, model, geometry, budget, inputs, state.repairs, time.perf_counter() - t0,
                             warned, state.guards)  # fmt: skip
    return distributed.broadcast_object(summary)  # every rank returns rank 0's summary


@dataclass
class _RunState:
    """What a checkpoint carries besides tensors: the next epoch, the metrics rows, the repair steps, the guard
    records and the seconds trained before a resume."""

    start_epoch: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    guards: list[dict[str, Any]] = field(default_factory=list)
    seconds_before: float = 0.0


def _warm_start(cfg: TrainConfig, inputs: TrainInputs, full_precision: tuple[str, ...] | None, device: torch.device,
                out: Path, progress: bool, log_format: str) -> torch.nn.Module | None:  # fmt: skip
    """The float warm start (``warm_start_epochs``; None when 0): the float model trained from the run's seed."""
    if not cfg.train.warm_start_epochs:
        return None
    build_csq_model(cfg, None, inputs.input_shape, full_precision, inputs.float_model)  # the budget, first
    seed_all(cfg.train.seed)
    start = inputs.float_model().to(device)
    try:
        pretrain_float(start, inputs.train_src, epochs=cfg.train.warm_start_epochs, lr=cfg.train.lr,
                       batch_size=cfg.data.batch_size, seed=cfg.train.seed, loss_fn=inputs.loss_fn,
                       progress=progress, log_format=log_format)  # fmt: skip
    except TrainingDiverged as exc:  # before any CSQ epoch: no checkpoint yet
        raise UserError(f"{exc}; {where_to_restart(out, 0)}") from None
    return start


def _hand_over(cfg: TrainConfig, inputs: TrainInputs, schedule: Schedule, plan: EpochPlan, model: torch.nn.Module,
               geometry: list, budget: Any, state: _RunState, main: bool) -> torch.optim.Optimizer | None:  # fmt: skip
    """The ticket epoch's hand-over (repair, fill, guard: recorded in ``state``); the fine-tune's fresh optimizer
    (and learning-rate schedule) for the shadow weights, or None when the search's optimizer goes on."""
    batch = inputs.fixed_batch(cfg.train.seed)  # ranks bits by what they do to the task
    handed = schedule.hand_over(model, geometry, budget, batch, plan, loss_fn=inputs.loss_fn)
    state.repairs += handed.changes
    state.guards += [] if handed.guard is None else [said(handed.guard, main)]
    return _optimizer(cfg, model, finetune=True) if schedule.ste else None


def _keep_budget(
    cfg: TrainConfig, inputs: TrainInputs, schedule: Schedule, plan: EpochPlan, model: torch.nn.Module,
    geometry: list, budget: Any, state: _RunState, main: bool,
) -> None:  # fmt: skip
    """A fine-tune epoch's start: bits dropped when the exact cost grew over the budget (recorded, one line)."""
    # the batch is drawn only when the model is over the budget (most epochs it is not)
    dropped = schedule.keep_budget(model, geometry, budget, lambda: inputs.fixed_batch(cfg.train.seed),
                                   loss_fn=inputs.loss_fn)  # fmt: skip
    state.repairs += [step | {"epoch": plan.epoch} for step in dropped]
    if dropped and main:
        moves = ", ".join(f"{s['kind']} of layer {s['layer']}" for s in dropped)
        print(f"csq-hw: epoch {plan.epoch}: the fine-tuned weights grew over the budget; moved bits: {moves} "
              f"(cost now {dropped[-1]['cost_after']:,.6g})", file=sys.stderr)  # fmt: skip


def _prepared(cfg: TrainConfig, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Bit planes stored in ``plane_dtype`` (Adam states follow; weights in float32); plain QAT's shadow weights set
    from the float weights (rounded straight-through from the first step); on ``device``."""
    for _, layer in csq_layers(model):
        layer.set_plane_dtype(_DTYPES[cfg.train.plane_dtype])
        if cfg.train.qat:
            rule = "maxabs" if cfg.train.finetune_step == "search" else cfg.train.finetune_step
            layer.start_finetune(from_current=False, step_rule=rule)
    return model.to(device)


def _optimizer(cfg: TrainConfig, model: torch.nn.Module, finetune: bool) -> torch.optim.Optimizer:
    """The search's optimizer (``lr``), or the fine-tune's (``finetune_learning_rate``, shadow weights)."""
    if finetune and not cfg.train.qat:
        return make_optimizer(model, cfg.train.optimizer, cfg.train.finetune_learning_rate, cfg.train.weight_decay,
                              finetune=True)  # fmt: skip
    return make_optimizer(model, cfg.train.optimizer, cfg.train.lr, cfg.train.weight_decay, finetune=cfg.train.qat,
                          plane_adam_state=cfg.train.plane_adam_state, seed=cfg.train.seed,
                          plane_step_in_backward=cfg.train.plane_step_in_backward)  # fmt: skip


def _resumed(
    cfg: TrainConfig, out: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, schedule: Schedule,
    allow_changes: bool, main: bool,
) -> tuple[_RunState, torch.optim.Optimizer]:  # fmt: skip
    """The checkpoint's state loaded into ``model``, the optimizer (the fine-tune's when cut after the ticket) and
    the random generators; one-line errors for a checkpoint that does not fit."""
    ckpt = load_checkpoint(out, cfg.to_flat(), allow_changes=allow_changes)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise UserError(f"{out / CHECKPOINT_NAME} does not fit this model ({str(exc).splitlines()[0][:120]}); "
                        "delete it and start again without --resume") from None  # fmt: skip
    state = _RunState(ckpt["epoch"], ckpt["metrics"], ckpt["repairs"], ckpt.get("guard", []),
                      float(ckpt.get("train_seconds", 0.0)))  # fmt: skip
    if ckpt["changes"]:
        check_resume_phase(cfg, ckpt, state.start_epoch)
        if main:
            print(f"csq-hw: resuming at epoch {state.start_epoch} with changed settings ({ckpt['changes']}); the "
                  "schedules (temperature, learning rate, hand-over) follow the new settings from here",
                  file=sys.stderr)  # fmt: skip
    if cfg.searched and schedule.ste and state.start_epoch > cfg.train.ticket:  # cut during the fine-tune
        optimizer = _optimizer(cfg, model, finetune=True)
    load_optimizer_state(optimizer, ckpt["optimizer"], out / CHECKPOINT_NAME)
    set_rng_state(ckpt["rng"])
    return state, optimizer


def _epoch_row(plan: EpochPlan, stats: Any, model: torch.nn.Module, geometry: list, budget: Any,
               inputs: TrainInputs, main: bool) -> dict[str, Any]:  # fmt: skip
    """One metrics.csv row: the schedule's position, the epoch's losses, the test metric, the hard cost."""
    with torch.no_grad():
        costs = budget.costs(geometry, budget.bits(model))
    avg = average_bits(model)
    return {
        "epoch": plan.epoch,
        "phase": plan.phase,
        "temperature": plan.temperature,
        "train_loss": stats.loss,
        "train_acc": stats.acc,
        **_test_metric(model, inputs.test_src, inputs.loss_fn, main),
        "cost": costs[0],  # the primary constraint's
        "budget": budget.primary.value,
        "cost_over_budget": costs[0] / budget.primary.value,
        "max_cost_over_budget": max(budget.ratios(costs)),  # the constraint nearest to (or most over) its budget
        "avg_weight_bits": avg["weighted"],
        "avg_weight_bits_unweighted": avg["unweighted"],
        "mean_act_bits": float(np.mean([la.act_bits() for _, la in csq_layers(model)])),
        "reg_coefficient": stats.reg_coefficient,
    }


def _save_epoch(out: Path, cfg: TrainConfig, epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                state: _RunState, seconds: float) -> None:  # fmt: skip
    """metrics.csv and the checkpoint after ``epoch`` (atomic: a cut run loses at most the epoch in progress)."""
    write_text(out / "metrics.csv", _csv_text(state.rows))
    save_checkpoint(out, config=cfg.to_flat(), epoch=epoch + 1, model=model.state_dict(),
                    optimizer=optimizer.state_dict(), rng=rng_state(), metrics=state.rows, repairs=state.repairs,
                    guard=state.guards, train_seconds=seconds)  # fmt: skip


def _test_metric(model, test_src, loss_fn, main: bool) -> dict[str, float]:
    """The per-epoch test column: accuracy (classification) or the task loss (any other loss)."""
    if not main:
        return {"test_acc": float("nan")}
    if loss_fn is None:
        return {"test_acc": evaluate(model, test_src)}
    return {"test_acc": float("nan"), "test_loss": evaluate_loss(model, test_src, loss_fn)}


def _csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV, columns in first-seen order (what ``pandas.DataFrame(rows).to_csv(index=False)`` writes; kept
    free of pandas so that ``import csq_hw`` stays light)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
