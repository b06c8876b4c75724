"""The hand-over at the ticket epoch: from the soft search to the hard model that is trained to the end.

At the ticket the masks harden; with the straight-through fine-tune (``ste``) every CSQ weight becomes a float
shadow weight projected onto its selected signed-digit values, the BatchNorm statistics and activation ranges are
recalibrated on a fixed batch, and the budget repair drops the least useful bits until the cost fits while the fill
adds the most useful ones that still fit (ranked by the loss on the same batch). The guard
(:mod:`csq_hw.train.guard`) checks the fine-tune's start against the soft search model on that batch and, when it is
far below, tries the other start (rewound or search weights) and keeps the better. The caller then makes a fresh
optimizer (and cosine) for the shadow weights. ``csq-hw train`` and :func:`csq_hw.fit` both go through
:func:`hand_over`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from cost_models import Budget, LayerGeometry
from csq_hw.quant.layers import csq_layers, set_phase, set_temperature
from csq_hw.train.budget import fill_to_budget, repair_to_budget
from csq_hw.train.budget_set import BudgetSet
from csq_hw.train.guard import BatchScore, GuardRecord, batch_score, best_of, recalibrate_statistics, score_words
from csq_hw.train.trainer import LossFn, batch_loss

__all__ = ["start_finetune", "hand_over", "HandOver", "FINETUNE_START_WORDS", "keep_in_budget"]

FINETUNE_START_WORDS = {"rewind": "the float weights the run started from", "search": "the soft search weights"}


@dataclasses.dataclass
class HandOver:
    """What the hand-over did: the budget repair/fill steps (dicts) and the guard's record (None for the planes
    hard phase, which keeps the search's weights)."""

    changes: list[dict[str, Any]]
    guard: GuardRecord | None


def start_finetune(
    model: nn.Module,
    search_temperature: float,
    hard_temperature: float,
    step_rule: str = "search",
    from_search: bool = True,
) -> None:
    """Every searched and fixed CSQ weight switches to straight-through shadow weights, starting (``from_search``)
    from the weight of the soft search model (soft masks, relaxed digits at the last search epoch's temperature) or
    else from the float weights the model was built from (rewind); then the hard phase."""
    set_temperature(model, search_temperature)
    set_phase(model, "search")
    for _, layer in csq_layers(model):
        layer.start_finetune(from_current=from_search, step_rule=step_rule)
    set_temperature(model, hard_temperature)
    set_phase(model, "hard")


def hand_over(
    model: nn.Module,
    geometry: Sequence[LayerGeometry],
    budget: Budget | BudgetSet,
    batch: tuple[torch.Tensor, torch.Tensor],
    *,
    ste: bool,
    temperatures: tuple[float, float],
    step_rule: str,
    from_search: bool,
    loss_fn: LossFn | None = None,
) -> HandOver:
    """Harden the search at the ticket (see the module docstring); returns the repair/fill steps and the guard's
    record.

    Args:
        batch: a fixed ``(x, y)`` batch of training samples (recalibration and the bit ranking share it).
        ste: switch to the straight-through fine-tune (else the paper's hard phase: planes keep training).
        temperatures: (the last search epoch's, the ticket epoch's) temperature.
        step_rule, from_search: the fine-tune's weight step rule and the recipe's start (the soft search weights, or
            the float weights the model was built from: :meth:`CSQLayer.start_finetune`).
        loss_fn: the task loss (default cross-entropy) that ranks the bits and scores the guard's candidates.
    """
    guard = _guarded_start(model, batch, temperatures, step_rule, from_search, loss_fn) if ste else None
    loss = batch_loss(model, *batch, loss_fn=loss_fn)
    changes = repair_to_budget(model, geometry, budget, loss) + fill_to_budget(
        model, geometry, budget, loss, spend_all=ste
    )
    if ste and changes:  # the repair and fill moved bits: the statistics were estimated on the bits before
        recalibrate_statistics(model, batch[0])
    return HandOver([dataclasses.asdict(s) for s in changes], guard)


def keep_in_budget(
    model: nn.Module,
    geometry: Sequence[LayerGeometry],
    budget: Budget | BudgetSet,
    batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    loss_fn: LossFn | None = None,
) -> list[dict[str, Any]]:
    """During the fine-tune: when the hard model's exact cost has grown over the budget (a budget that prices the
    integer weights: fine-tuned weights that grow need more bits), drop the bits that cost the task least on the
    fixed batch ``batch()`` (:func:`~csq_hw.train.budget.repair_to_budget`), then fill what that left (a dropped
    position frees a bit of every weight), so that the epochs left adapt to them; the steps, or ``[]`` when within
    budget (one cost evaluation: the batch is not drawn, no loss)."""
    budgets = budget if isinstance(budget, BudgetSet) else BudgetSet((budget,))
    if budgets.fits(budgets.costs(geometry, budgets.bits(model))):
        return []
    loss = batch_loss(model, *batch(), loss_fn=loss_fn)
    # a dropped weight position saves a whole bit of every weight: the fill spends what that left, as the hand-over does
    steps = repair_to_budget(model, geometry, budgets, loss) + fill_to_budget(model, geometry, budgets, loss,
                                                                              spend_all=True)  # fmt: skip
    return [dataclasses.asdict(s) for s in steps]


def _soft_score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], temperature: float,
                loss_fn: LossFn | None) -> BatchScore:  # fmt: skip
    """The soft search model's score on ``batch``: soft masks and relaxed digits at the last search temperature
    (eval mode: the search's BatchNorm statistics and activation ranges)."""
    set_temperature(model, temperature)
    set_phase(model, "search")
    return batch_score(model, batch, loss_fn)


def _guarded_start(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    temperatures: tuple[float, float],
    step_rule: str,
    from_search: bool,
    loss_fn: LossFn | None,
) -> GuardRecord:
    """Start the fine-tune from the recipe's start; if it is far below the soft model on ``batch``, try the other
    start and keep the better (:func:`csq_hw.train.guard.best_of`). Each candidate: shadow weights set, then the
    BatchNorm statistics and activation ranges recalibrated on ``batch``."""
    soft = _soft_score(model, batch, temperatures[0], loss_fn)
    order = ["search", "rewind"] if from_search else ["rewind", "search"]

    def start(name: str):
        def apply() -> None:
            start_finetune(model, temperatures[0], temperatures[1], step_rule, from_search=name == "search")
            recalibrate_statistics(model, batch[0])

        return apply

    record = best_of(model, "hand-over", soft, [(name, start(name)) for name in order],
                     lambda: batch_score(model, batch, loss_fn))  # fmt: skip
    first, kept = order[0], record.kept
    if kept != first:
        record.message = (
            f"hand-over guard: the fine-tune starts from {FINETUNE_START_WORDS[kept]}, not from "
            f"{FINETUNE_START_WORDS[first]} (finetune_init {first}), which scored far below the soft model on the "
            f"fixed batch ({score_words(record.candidates[first])} against {score_words(soft)}; now "
            f"{score_words(record.candidates[kept])})"
        )
    return record
