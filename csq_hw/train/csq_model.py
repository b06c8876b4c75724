"""CSQ in your own training loop: ``prepare`` a float model, one call per epoch and one per step, then save.

Example::

    qmodel = csq_hw.prepare(net, input_shape=(16,), budget="lut=3000", epochs=30)
    opt = qmodel.optimizer("adam", lr=1e-2)
    for epoch in range(30):
        if qmodel.start_epoch(epoch, batch=(x_fixed, y_fixed)):   # True at the hand-over: new parameters train
            opt = qmodel.optimizer("adam", lr=2e-2)
        for xb, yb in loader:
            loss = F.cross_entropy(qmodel(xb), yb) + qmodel.budget_loss()
            opt.zero_grad(); loss.backward(); opt.step()
    exact = csq_hw.finalize(qmodel)                                # the exact fixed-point model (float64)
    csq_hw.save_run("runs/mine", qmodel, test_data=(x_test, y_test))  # then csq-hw cost --run / csq-hw export

``qmodel.eval()`` is the hard forward (what the hardware computes, up to float32 rounding; ``finalize`` gives the
float64 exact model); ``qmodel.train()`` returns to the epoch's phase. The schedule's position (epoch, temperature,
phase) is in ``qmodel.state_dict()``, so a reloaded checkpoint computes what the saved model computed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from csq_hw.errors import UserError
from csq_hw.quant.finalize import to_exact
from csq_hw.quant.layer_bits import soft_bits
from csq_hw.quant.layers import set_phase
from csq_hw.quant.supported import check_supported
from csq_hw.runtime.atomic_io import write_text
from csq_hw.train.budget import BudgetRegularizer, repair_to_budget
from csq_hw.train.config import TrainConfig, config_to_toml
from csq_hw.train.finish import finish_run
from csq_hw.train.model_build import build_csq_model
from csq_hw.train.run_inputs import TrainInputs, as_sample_source
from csq_hw.train.schedule import Schedule
from csq_hw.train.trainer import LossFn, make_optimizer

__all__ = ["CSQModel", "prepare", "finalize", "save_run"]


class CSQModel(nn.Module):
    """A CSQ model (``.module``) with its budget and search schedule. Build it with :func:`prepare`.

    Buffers (in ``state_dict``): ``schedule_epoch`` (the epoch last started, -1 before the first).
    """

    def __init__(self, module: nn.Module, cfg: TrainConfig, geometry: list, budget: Any, skeleton: nn.Module,
                 input_shape: tuple[int, ...], n_outputs: int) -> None:  # fmt: skip
        super().__init__()
        self.module, self.cfg, self.geometry, self.budget = module, cfg, geometry, budget
        self.skeleton, self.input_shape, self.n_outputs = skeleton, input_shape, n_outputs
        self.regularizer = BudgetRegularizer(budget, cfg.budget.strength) if cfg.searched else None
        self.schedule = Schedule(cfg)  # the trainer's own per-epoch plan (csq_hw.train.schedule)
        self.register_buffer("schedule_epoch", torch.tensor(-1))
        self.register_load_state_dict_post_hook(lambda m, _keys: m._apply_schedule())

    @property
    def epoch(self) -> int:
        return int(self.schedule_epoch)

    @property
    def searching(self) -> bool:
        """The epoch is before the ticket: masks are soft and the budget term acts."""
        return self.epoch >= 0 and self.schedule.plan(self.epoch).searching

    @property
    def finetuning(self) -> bool:
        """The straight-through fine-tune runs (after the hand-over, ``finetune="ste"``)."""
        return self.cfg.train.finetune == "ste" and self.epoch >= self.cfg.train.ticket > 0

    def _apply_schedule(self) -> None:
        Schedule.apply(self.module, self.schedule.plan(max(self.epoch, 0)), training=self.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    def train(self, mode: bool = True) -> CSQModel:
        """``train()``: the epoch's phase; ``eval()``: the hard forward (the hardware's arithmetic)."""
        super().train(mode)
        self._apply_schedule()
        return self

    def start_epoch(self, epoch: int, batch: tuple[torch.Tensor, torch.Tensor] | None = None,
                    loss_fn: LossFn | None = None) -> bool:  # fmt: skip
        """Set the temperature and phase of ``epoch``; at the ticket epoch hand over (the budget repair ranks bits
        by ``loss_fn`` on ``batch``, a fixed batch of training samples, required then). In a later fine-tune epoch
        with ``batch``: bits dropped and refilled when the exact cost has grown over the budget (a budget that prices
        the integer weights, :meth:`~csq_hw.train.schedule.Schedule.keep_budget`).

        Returns:
            True when the trainable parameters changed (the hand-over to the fine-tune): build a new optimizer.
        """
        if not 0 <= epoch < self.cfg.train.epochs:
            raise UserError(f"start_epoch({epoch}): epochs run 0..{self.cfg.train.epochs - 1} (prepare(epochs=...))")
        self.schedule_epoch.fill_(epoch)
        self.train(True)
        plan = self.schedule.plan(epoch)
        if not plan.hand_over:
            if batch is not None and self.schedule.keeps_budget(plan):  # a weight-priced cost that grew: back in budget
                self.schedule.keep_budget(self.module, self.geometry, self.budget, lambda: batch, loss_fn=loss_fn)
            return False
        if batch is None:
            raise UserError(f"epoch {epoch} is the hand-over (ticket): pass batch=(x, y), a fixed training batch")
        self.schedule.hand_over(self.module, self.geometry, self.budget, batch, plan, loss_fn=loss_fn)
        return self.schedule.ste

    def budget_loss(self) -> torch.Tensor:
        """The budget term for this step (add it to the task loss); zero outside the search."""
        if self.regularizer is None or self.epoch < 0 or not self.schedule.plan(self.epoch).budget_term:
            return torch.zeros(())
        hard = self.budget.costs(self.geometry, self.budget.bits(self.module))  # one per constraint
        return self.regularizer(self.geometry, soft_bits(self.module), hard)

    def cost(self) -> float:
        """The (primary) budget's cost at the current hard precisions, in the cost's unit (:meth:`costs`: all)."""
        return self.costs()[0]

    def costs(self) -> tuple[float, ...]:
        """Every constraint's cost at the current hard precisions, each in its cost's unit."""
        return self.budget.costs(self.geometry, self.budget.bits(self.module))

    def optimizer(
        self, name: str = "adam", lr: float = 0.01, weight_decay: float = 0.0, plane_adam_state: str = "float32"
    ) -> torch.optim.Optimizer:
        """Adam or SGD over what trains now (the search's planes and masks, or the fine-tune's shadow weights);
        ``plane_adam_state="bfloat16"``: Adam's moments of the bit planes in bfloat16 (``make_optimizer``)."""
        return make_optimizer(self.module, name, lr, weight_decay, finetune=self.finetuning,
                              plane_adam_state=plane_adam_state)  # fmt: skip


def prepare(model: nn.Module, input_shape: tuple[int, ...], budget: str, *, epochs: int,
            **settings: Any) -> CSQModel:  # fmt: skip
    """Convert a float ``model`` into a :class:`CSQModel` searching under ``budget`` over ``epochs`` epochs.

    ``settings``: :class:`~csq_hw.train.config.TrainConfig` fields (``max_bits``, ``act_bits``, ``ticket_epoch``,
    ``finetune``, ``strength``, temperatures, ``seed``, ...). The model's own weights are the starting point: no float
    warm start is run here (``pretrain_epochs`` 0), so the unset defaults that follow a warm start (the initial
    temperature, the mask init, the fine-tune's start) take their from-scratch values unless you pass
    ``pretrain_epochs=K`` for a model you trained K epochs in float.
    """
    check_supported(model, f"model {type(model).__name__}")
    settings.setdefault("pretrain_epochs", 0)  # your loop trains the float model (or brings it trained)
    cfg = TrainConfig.from_flat(
        model=f"user:{type(model).__name__}", dataset="user", budget=budget, epochs=epochs, **settings
    )
    skeleton = copy.deepcopy(model).cpu()
    module, geometry, resolved = build_csq_model(cfg, copy.deepcopy(skeleton), tuple(input_shape), ())
    with torch.no_grad():
        n_out = int(skeleton.eval()(torch.zeros(1, *input_shape))[0].numel())
    return CSQModel(module, cfg, geometry, resolved, skeleton, tuple(input_shape), n_out)


def finalize(qmodel: CSQModel) -> nn.Module:
    """The exact fixed-point model (float64, eval mode) after the hard threshold and the budget repair."""
    set_phase(qmodel.module, "hard")
    if qmodel.cfg.searched:
        repair_to_budget(qmodel.module, qmodel.geometry, qmodel.budget)
    return to_exact(qmodel.module).double().eval()


def save_run(out: str | Path, qmodel: CSQModel, test_data: Any, loss_fn: LossFn | None = None) -> dict[str, Any]:
    """Write ``qmodel`` as a run directory (precisions.json, exact_model.pt, architecture.json, test_data.npz,
    summary.json) that ``csq-hw cost --run``, ``csq-hw export`` and :func:`csq_hw.load_run` read; returns the
    summary. ``test_data``: a DataLoader, Dataset or ``(x, y)`` pair (the accuracy or ``loss_fn`` is measured on
    it)."""
    src = as_sample_source(test_data, torch.device("cpu"), "test_data")
    inputs = TrainInputs(float_model=lambda: copy.deepcopy(qmodel.skeleton), input_shape=qmodel.input_shape,
                         n_outputs=qmodel.n_outputs, train_src=src, test_src=src, loss_fn=loss_fn,
                         save_architecture=True, save_test_data=True, dataset="user")  # fmt: skip
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.toml", config_to_toml(qmodel.cfg))
    module = qmodel.module.cpu()
    return finish_run(qmodel.cfg, out, module, qmodel.geometry, qmodel.budget, inputs, [], 0.0)
