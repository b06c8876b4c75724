"""The training schedule, owned once: what every epoch does to the CSQ layers, for ``csq-hw train`` and ``prepare``.

A run's epochs (``TrainConfig``: ``epochs`` E, ticket t, ``settle_epochs`` s, the fine-tune mode) follow one plan:

=================  =====================================  ==========================================================
epochs             phase                                  what changes
=================  =====================================  ==========================================================
0 .. t - s - 1     ``search``                             T grows (``temperature_at``), the budget term acts
t - s .. t - 1     ``search``                             the settle epochs: no budget term
t                  ``hard``                               the hand-over (:func:`~csq_hw.train.handover.hand_over`)
t .. t + ceil(.)   ``hard``                               the fine-tune's first half keeps calibrating activation ranges
E - floor(f(E-t))  ``hard``                               the last share f (``freeze_share``, 0.5) of the fine-tune
                                                          trains against frozen weight steps and activation ranges
=================  =====================================  ==========================================================

Plain QAT is straight-through from epoch 0, so its frozen epochs are the last ``floor(f E)``. Freezing the quantizers
late is the usual QAT recipe (torch.ao's ``disable_observer``, TF-MOT's frozen ranges): a power-of-two step or range
that still moves flips by a factor of two, and the weights get no epochs to adapt to the last flip (measured in
docs/results_suite.md).

:meth:`Schedule.plan` says it as an :class:`EpochPlan`; :meth:`Schedule.apply` sets it on the layers in one walk
(temperature, phase, calibration window), and :meth:`Schedule.hand_over` hardens the search at the ticket. The
trainer's loop (:mod:`csq_hw.train.train_run`) and :class:`~csq_hw.train.csq_model.CSQModel` both go through it, so
the two loops cannot drift apart (``prepare()`` used to lack the calibration window).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from cost_models import Budget, LayerGeometry
from csq_hw.quant.layers import csq_layers, set_phase, set_temperature
from csq_hw.train.budget_set import BudgetSet
from csq_hw.train.handover import HandOver, hand_over, keep_in_budget
from csq_hw.train.trainer import LossFn

__all__ = ["EpochPlan", "Schedule"]


@dataclass(frozen=True)
class EpochPlan:
    """What epoch ``epoch`` does: ``temperature`` T, ``phase`` (``search`` / ``hard``), whether the budget term
    acts (``budget_term``), whether it starts with the hand-over, whether the activation ranges keep
    calibrating in the hard phase (``calibrating``), and whether the weight steps and learned activation ranges are
    frozen (``steps_frozen``: the straight-through epochs' last quarter)."""

    epoch: int
    temperature: float
    phase: str
    budget_term: bool
    hand_over: bool
    calibrating: bool
    steps_frozen: bool = False

    @property
    def searching(self) -> bool:
        return self.phase == "search"


class Schedule:
    """The per-epoch plan of a run's config (``cfg``: a :class:`~csq_hw.train.config.TrainConfig`)."""

    def __init__(self, cfg) -> None:  # noqa: ANN001 - a TrainConfig (imported lazily by callers)
        self.cfg = cfg
        train = cfg.train
        self.ste = train.qat or (cfg.searched and train.finetune == "ste")  # straight-through from some epoch on
        self.ticket, self.epochs = train.ticket, train.epochs

    def plan(self, epoch: int) -> EpochPlan:
        """The plan of ``epoch`` (0-based)."""
        cfg, t = self.cfg, self.ticket
        searching = epoch < t
        window_end = t + (self.epochs - t + 1) // 2  # the fine-tune's first half
        ste_start = t if cfg.searched else 0  # plain QAT is straight-through from its first epoch
        frozen_from = self.epochs - int(cfg.train.freeze_share * (self.epochs - ste_start))
        return EpochPlan(
            epoch=epoch,
            temperature=cfg.train.temperature_at(epoch),
            phase="search" if searching else "hard",
            budget_term=cfg.searched and searching and epoch < t - cfg.train.settle_epochs,
            hand_over=epoch == t and epoch > 0 and cfg.searched,
            calibrating=cfg.searched and self.ste and t <= epoch < window_end,
            steps_frozen=self.ste and epoch >= max(frozen_from, ste_start + 1),
        )

    @staticmethod
    def apply(model: nn.Module, plan: EpochPlan, training: bool = True) -> None:
        """Set ``plan`` on every CSQ layer of ``model``: temperature, phase (the hard forward when not
        ``training``) and the activation quantizers' calibration window."""
        set_temperature(model, plan.temperature)
        set_phase(model, plan.phase if training else "hard")
        for _, layer in csq_layers(model):
            layer.set_schedule(plan.calibrating, plan.steps_frozen)

    def hand_over(
        self,
        model: nn.Module,
        geometry: Sequence[LayerGeometry],
        budget: Budget | BudgetSet,
        batch: tuple[torch.Tensor, torch.Tensor],
        plan: EpochPlan,
        loss_fn: LossFn | None = None,
    ) -> HandOver:
        """Harden the search at the ticket epoch ``plan`` (:func:`~csq_hw.train.handover.hand_over` with the
        config's fine-tune mode, step rule and start), ranking bits and scoring the guard on ``batch``."""
        train = self.cfg.train
        last = train.temperature_at(plan.epoch - 1)
        handed = hand_over(model, geometry, budget, batch, ste=self.ste, temperatures=(last, plan.temperature),
                           step_rule=train.finetune_step, from_search=train.finetune_start == "search",
                           loss_fn=loss_fn)  # fmt: skip
        self.apply(model, plan)  # the epoch's temperature, phase and calibration window after the hand-over
        return handed

    def keeps_budget(self, plan: EpochPlan) -> bool:
        """Whether ``plan``'s epoch starts with the fine-tune's budget check (:meth:`keep_budget`): every CSQ
        fine-tune epoch after the hand-over's."""
        return self.cfg.searched and self.ste and not plan.searching and not plan.hand_over

    def keep_budget(
        self,
        model: nn.Module,
        geometry: Sequence[LayerGeometry],
        budget: Budget | BudgetSet,
        batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
        loss_fn: LossFn | None = None,
    ) -> list[dict]:
        """Drop bits when the fine-tuned model has grown over the budget, then spend what that left
        (:func:`~csq_hw.train.handover.keep_in_budget`; ``batch()`` draws the fixed batch, only then); the steps
        (``[]`` within budget)."""
        return keep_in_budget(model, geometry, budget, batch, loss_fn)
