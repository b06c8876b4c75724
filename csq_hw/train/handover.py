"""The hand-over at the ticket epoch: from the soft search to the hard model that is trained to the end.

At the ticket the masks harden; with the straight-through fine-tune (``ste``) every CSQ weight becomes a float
shadow weight projected onto its selected signed-digit values, the activation ranges are recalibrated on a fixed
batch, and the budget repair drops the least useful bits until the cost fits while the fill adds the most useful
ones that still fit (ranked by the loss on the same batch). The caller then makes a fresh optimizer (and cosine)
for the shadow weights. ``csq-hw train`` and :func:`csq_hw.fit` both go through :func:`hand_over`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from cost_models import Budget, LayerGeometry
from csq_hw.quant.layers import csq_layers, set_phase, set_temperature
from csq_hw.train.budget import fill_to_budget, repair_to_budget
from csq_hw.train.budget_set import BudgetSet
from csq_hw.train.trainer import LossFn, batch_loss, recalibrate_activations

__all__ = ["start_finetune", "hand_over"]


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
) -> list[dict[str, Any]]:
    """Harden the search at the ticket (see the module docstring); returns the repair/fill steps as dicts.

    Args:
        batch: a fixed ``(x, y)`` batch of training samples (recalibration and the bit ranking share it).
        ste: switch to the straight-through fine-tune (else the paper's hard phase: planes keep training).
        temperatures: (the last search epoch's, the ticket epoch's) temperature.
        step_rule, from_search: the fine-tune's weight step rule and start (:meth:`CSQLayer.start_finetune`).
        loss_fn: the task loss (default cross-entropy) that ranks the bits.
    """
    if ste:
        start_finetune(model, temperatures[0], temperatures[1], step_rule, from_search)
        recalibrate_activations(model, batch[0])
    loss = batch_loss(model, *batch, loss_fn=loss_fn)
    changes = repair_to_budget(model, geometry, budget, loss) + fill_to_budget(
        model, geometry, budget, loss, spend_all=ste
    )
    return [dataclasses.asdict(s) for s in changes]
