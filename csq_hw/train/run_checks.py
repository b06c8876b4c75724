"""Health checks of a training run: a diverging loss, accuracy at chance or far below the soft model's, a resume
that would splice two schedules.

Warnings go through :func:`warnings.warn` as :class:`csq_hw.errors.CsqWarning` (the CLI prints each as one line) and
are listed in ``summary.json`` under ``warnings``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from csq_hw.errors import CsqWarning, UserError
from csq_hw.runtime.checkpoint import CHECKPOINT_NAME
from csq_hw.train.config import TrainConfig

__all__ = ["SOFT_GAP_POINTS", "where_to_restart", "check_resume_phase", "loss_warnings", "run_warnings"]

SOFT_GAP_POINTS = 5.0  # an exact model this many percentage points below the soft model's accuracy is warned about


def where_to_restart(out: Path, epoch: int) -> str:
    """The true state of the run directory after a divergence in ``epoch``."""
    if epoch > 0 and (out / CHECKPOINT_NAME).is_file():
        return (f"{out / CHECKPOINT_NAME} holds the last complete epoch ({epoch - 1}): continue from it with "
                "--resume --allow-changes and a lower --lr")  # fmt: skip
    return "no epoch completed, so no checkpoint was written: start again with a lower --lr"


def check_resume_phase(cfg: TrainConfig, ckpt: dict[str, Any], start_epoch: int) -> None:
    """A changed schedule must leave the epochs already trained in the phase they were trained in."""
    old = TrainConfig.from_flat(**ckpt["config"]).train.ticket
    if (old < start_epoch) != (cfg.train.ticket < start_epoch) and start_epoch > 0:
        was = "hard phase (fine-tune)" if old < start_epoch else "search"
        raise UserError(
            f"the changed settings move the hand-over (ticket) from epoch {old} to {cfg.train.ticket}, but the "
            f"checkpoint "
            f"is at epoch {start_epoch}, already in the {was}; keep the ticket on the same side "
            f"(--ticket-epoch {old}) or use another --out"
        )


def _warn(message: str, warnings_out: list[str]) -> None:
    warnings_out.append(message)
    warnings.warn(message, CsqWarning, stacklevel=3)


def loss_warnings(rows: list[dict[str, Any]], n_classes: int | None) -> list[str]:
    """A train loss that is finite but diverging: above 10 x its first epoch's value, or (classifiers,
    ``n_classes`` given) above 100 x ln(n_classes), a classifier's loss at chance being ln(n_classes)."""
    losses = [float(r["train_loss"]) for r in rows]
    if not losses:
        return []
    chance = math.log(max(n_classes, 2)) if n_classes is not None else math.inf
    limit = max(100 * chance, 10 * losses[0]) if n_classes is not None else 10 * losses[0]
    worst = max(range(len(losses)), key=lambda j: losses[j])
    if losses[worst] > limit or losses[0] > 100 * chance:
        at_chance = f" (chance is {chance:.3g})" if n_classes is not None else f" (first epoch {losses[0]:.3g})"
        return [f"the training loss reached {losses[worst]:.3g} at epoch {rows[worst]['epoch']}{at_chance}: training "
                "diverged or the features are badly scaled; lower --lr or standardize the features"]  # fmt: skip
    return []


def run_warnings(
    earlier: list[str], test_acc: float | None, n_classes: int, soft_acc: float | None = None
) -> list[str]:
    """Emit ``earlier`` warnings, one for an exact model at chance (below 1.5 / n_classes) and one for an exact
    model more than :data:`SOFT_GAP_POINTS` percentage points below the soft (relaxed) model; return them all.

    ``test_acc``, ``soft_acc``: accuracies in [0, 1] (None for a run with another loss: no accuracy checks).
    """
    found: list[str] = []
    for message in earlier:
        _warn(message, found)
    if test_acc is not None and test_acc < 1.5 / n_classes:
        _warn(f"the exact model's test accuracy {test_acc:.4f} is near chance (1/{n_classes} = {1 / n_classes:.4f}); "
              "check the labels, the feature scaling, --lr and the budget", found)  # fmt: skip
    elif test_acc is not None and soft_acc is not None and 100 * (soft_acc - test_acc) > SOFT_GAP_POINTS:
        _warn(f"the exact model's test accuracy {100 * test_acc:.2f}% is {100 * (soft_acc - test_acc):.2f} points "
              f"below the soft model's {100 * soft_acc:.2f}% (more than {SOFT_GAP_POINTS:g} points): the hard bits "
              "lose what the relaxed search relied on; train longer after the ticket (--epochs) or let the masks "
              "settle before it (--settle-epochs)", found)  # fmt: skip
    return found
