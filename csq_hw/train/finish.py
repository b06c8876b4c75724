"""``finish_run``: the end of a run: the exact model, its guard, and the files a run directory hands on.

After the last epoch every mask and digit is hard-thresholded, the budget is enforced once more, the end guard
(:func:`csq_hw.train.guard.guard_end`) checks the exact model against the soft one on the fixed batch, and the run
directory receives ``precisions.json``, ``exact_model.pt`` (with ``architecture.json`` and ``test_data.npz`` for
models and data that no name rebuilds) and, last, ``summary.json`` with the digests of the pair it describes.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from csq_hw.data.source import sequential_plan
from csq_hw.handoff.precision_types import Precisions
from csq_hw.handoff.precisions import write_precisions
from csq_hw.quant.finalize import exact_state, precisions_dict, to_exact
from csq_hw.quant.layers import csq_layers, set_phase, set_temperature
from csq_hw.runtime.atomic_io import atomic_write, sha256_file, torch_save, write_json
from csq_hw.train.budget import repair_to_budget
from csq_hw.train.budget_set import prices_weights
from csq_hw.train.guard import BatchScore, GuardRecord, guard_end
from csq_hw.train.run_checks import run_warnings
from csq_hw.train.run_inputs import TrainInputs
from csq_hw.train.summary_report import summary_record
from csq_hw.train.trainer import evaluate, evaluate_loss
from csq_hw.zoo.architecture import ARCHITECTURE_NAME, save_architecture

__all__ = ["finish_run", "said", "TEST_DATA_NAME"]

TEST_DATA_NAME = "test_data.npz"  # runs of user data (csq_hw.fit): the test split, for the export's check


def finish_run(cfg, out: Path, model, geometry, budget, inputs: TrainInputs, repairs, train_seconds,
               pending: list[str] | None = None, guards: list[dict] | None = None) -> dict[str, Any]:  # fmt: skip
    """Hard-threshold everything, enforce the budget, check the exact model against the soft one (the end guard,
    :func:`csq_hw.train.guard.guard_end`), write precisions, exact model and summary. ``guards``: the hand-over
    guard's records."""
    test_src, loss_fn = inputs.test_src, inputs.loss_fn

    def score(m, **kw) -> float | None:  # accuracy; None for another loss (then test_loss says it)
        return evaluate(m, test_src, **kw) if loss_fn is None else None

    set_temperature(model, cfg.train.temperature_at(cfg.train.epochs))
    set_phase(model, "hard")
    if cfg.searched:
        repairs = repairs + [dataclasses.asdict(s) for s in repair_to_budget(model, geometry, budget)]
    if any(la.is_finetuning for _, la in csq_layers(model)):  # straight-through fine-tunes (CSQ's and plain QAT)
        batch = inputs.fixed_batch(cfg.train.seed)
        handed = [g for g in guards or [] if g["at"] == "hand-over"]  # the soft search model's score there
        reference = BatchScore(**handed[-1]["soft"]) if handed else None
        guards = [*(guards or []), said(guard_end(model, batch, loss_fn, reference), True)]
    hard_acc = score(model)
    set_phase(model, "relaxed")
    soft_acc = score(model)
    set_phase(model, "hard")
    model = model.cpu()
    exact = to_exact(model).double()
    exact_acc = score(exact, dtype=torch.float64)
    test_loss = evaluate_loss(exact, test_src, loss_fn or torch.nn.functional.cross_entropy, dtype=torch.float64)
    spec = {"name": cfg.model.name, "kwargs": cfg.model.kwargs, "input_shape": list(inputs.input_shape),
            "n_classes": inputs.n_outputs}  # fmt: skip
    if inputs.save_architecture:  # a model the zoo cannot rebuild: its traced float skeleton travels with the run
        save_architecture(out / ARCHITECTURE_NAME, inputs.float_model(), inputs.input_shape, inputs.n_outputs)
        spec["architecture"] = ARCHITECTURE_NAME
    precisions = precisions_dict(model, spec, cfg.quant.weight_step, cfg.quant.max_bits)
    found = [*inputs.warnings, *run_warnings(pending or [], exact_acc, spec["n_classes"], soft_acc)]
    run = run_record(cfg, inputs.dataset or cfg.data.dataset, precisions)
    scores = {"test_acc": exact_acc, "test_loss": test_loss, "hard_model_test_acc": hard_acc, "soft_test_acc": soft_acc}
    summary = summary_record(model, geometry, budget, precisions, scores=scores, repairs=repairs, run=run,
                             train_seconds=train_seconds, warnings=found)  # fmt: skip
    summary["guard"] = guards or []
    write_precisions(out / "precisions.json", precisions)
    torch_save(out / "exact_model.pt", exact_state(model, precisions))
    # summary.json last, with the digests of the pair it describes: export checks that the pair is this run's
    if inputs.save_test_data:  # what `csq-hw export` checks the firmware on (the user's data has no name)
        x, y = zip(*test_src.batches(sequential_plan(len(test_src), 1024)), strict=True)
        atomic_write(out / TEST_DATA_NAME, lambda f: np.savez(f, x_test=torch.cat(x).cpu().numpy(),
                                                                 y_test=torch.cat(y).cpu().numpy()))  # fmt: skip
    pair = ["precisions.json", "exact_model.pt", *([ARCHITECTURE_NAME] if inputs.save_architecture else [])]
    summary["files"] = {name: sha256_file(out / name) for name in pair}
    write_json(out / "summary.json", summary)
    return summary


def run_record(cfg, dataset: str, precisions: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN001 - a TrainConfig
    """``summary.json``'s description of the run: model, data set, epochs, seed, method, whether the exact model
    exports (power-of-two steps, nothing left at full precision) and the recipe's choices."""
    return {
        "model": cfg.model.name,
        "dataset": dataset,
        "epochs": cfg.train.epochs,
        "seed": cfg.train.seed,
        "method": "qat" if cfg.train.qat else "uniform" if cfg.train.uniform else "csq",
        "exportable": cfg.quant.weight_step == "pow2" and not Precisions.of(precisions).full_precision,
        "recipe": recipe_record(cfg),
    }


def recipe_record(cfg) -> dict[str, Any]:  # noqa: ANN001 - a TrainConfig
    """The settings the recipe chose where the config left them unset (config.toml keeps them unset, so a later
    csq-hw may choose anew): warm-start epochs, initial temperature, mask init, the fine-tune's start."""
    return {"pretrain_epochs": cfg.train.warm_start_epochs, "initial_temperature": cfg.train.start_temperature,
            "mask_init": cfg.quant_config().mask_init, "finetune_init": cfg.train.finetune_start,
            "pricing": "weights" if prices_weights(cfg.budget.parsed, cfg.budget.pricing) else "widths"}  # fmt: skip


def said(record: GuardRecord, main: bool) -> dict[str, Any]:
    """A guard record as a dict, its message (when it changed something) printed as one line on rank 0."""
    if record.message and main:
        print(f"csq-hw: {record.message}", file=sys.stderr)
    return record.to_dict()
