"""One explicit CSQ training loop: temperature schedule, budget term, hard phase, evaluation.

Schedules (pure functions of the epoch, so a resumed run repeats an uninterrupted one exactly):

* temperature ``T(e) = T_0 (T_final / T_0)^(e / E_ticket)``, constant within an epoch (CSQ reference code: T_0 = 1);
* learning rate: cosine from ``lr`` to 0 over all epochs, per step;
* data order: a permutation drawn from a generator seeded by ``(seed, epoch)``; under DDP every rank draws the
  same permutation and trains on its slice of each global batch (:mod:`csq_hw.runtime.distributed`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cost_models import LayerBits, LayerGeometry
from csq_hw.data.source import SampleSource, TensorSource, as_sample_source, sequential_plan
from csq_hw.errors import TrainingDiverged
from csq_hw.quant.layer_bits import soft_bits
from csq_hw.quant.layers import csq_layers
from csq_hw.quant.temperature import scheduled_temperature as temperature
from csq_hw.runtime import distributed
from csq_hw.runtime.progress import step_bar
from csq_hw.train.budget import BudgetRegularizer
from csq_hw.train.optimizers import make_optimizer, optimizer_kernel

#: ``loss_fn(output (B, ...), target (B, ...)) -> scalar tensor``, e.g. ``torch.nn.functional.mse_loss``
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

__all__ = [
    "LossFn",
    "evaluate_loss",
    "as_source",
    "fixed_batch",
    "fixed_batch_loss",
    "batch_loss",
    "recalibrate_activations",
    "temperature",
    "lr_at",
    "make_optimizer",
    "optimizer_kernel",
    "EpochStats",
    "train_epoch",
    "evaluate",
    "batch_order",
    "forward_loss",
    "hard_state_key",
    "hard_state_keyer",
]


def lr_at(step: int, total_steps: int, base_lr: float) -> float:
    """Cosine decay from ``base_lr`` (step 0) towards 0 (step ``total_steps``)."""
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))


def batch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch, reproducible from ``(seed, epoch)``."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


def hard_state_keyer(model: nn.Module) -> Callable[[], tuple]:
    """``key()`` -> :func:`hard_state_key` of ``model``, with the layers and their logits looked up once (the
    module walk is most of the key's cost in a small model's step; the logits are the same tensors all epoch)."""
    layers = [la for _, la in csq_layers(model)]
    logits = [p for la in layers for p in la.mask_parameters()]

    def key() -> tuple:
        signs = tuple(int(la.act_signed) for la in layers)
        if not logits:
            return (), signs
        with torch.no_grad():  # the parameters themselves, no detached copies
            return (torch.cat(logits) >= 0).cpu().numpy().tobytes(), signs

    return key


def hard_state_key(model: nn.Module) -> tuple:
    """Everything the exact bits depend on: the signs of all mask/gate logits and the activation signedness (one
    concatenation and one comparison for the whole model; the same key as the layers' ``selection_key`` s)."""
    return hard_state_keyer(model)()


def forward_loss(
    model: nn.Module, loss_fn: LossFn | None = None, soft_costs: Callable[[], tuple[torch.Tensor, ...]] | None = None
) -> Callable[[torch.Tensor, torch.Tensor], tuple]:
    """``(xb, yb) -> (output, loss, costs)``: the step's forward pass, its task loss (default cross-entropy, taken in
    float32) and ``soft_costs()`` (``()`` without it): the part of the step ``compile=True`` hands to
    ``torch.compile``, with the budget's cost models (:meth:`BudgetRegularizer.soft_costs`, taken outside autocast)
    while searching."""
    task_loss = loss_fn or F.cross_entropy

    def step_forward(xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        logits = model(xb)
        loss = task_loss(logits.float(), yb)
        if soft_costs is None:
            return logits, loss, ()
        with torch.autocast(xb.device.type, enabled=False):
            return logits, loss, soft_costs()

    return step_forward


def _on_cpu(bits: dict[str, LayerBits]) -> dict[str, LayerBits]:
    """Soft bits moved (differentiably) to the CPU, where the cost models build their constants; the 0-dim
    cost they return adds to a CUDA loss."""
    return {
        name: dataclasses.replace(b, **{f.name: getattr(b, f.name).cpu() for f in dataclasses.fields(b)
                                        if torch.is_tensor(getattr(b, f.name))})
        for name, b in bits.items()
    }  # fmt: skip


def _cost_bits(model: nn.Module, device: torch.device) -> dict[str, LayerBits]:
    """The soft bits where the cost models take them: on the CPU (moved there from another device)."""
    soft = soft_bits(model)
    return soft if device.type == "cpu" else _on_cpu(soft)


def _soft_costs(
    model: nn.Module, regularizer: BudgetRegularizer, geometry: Sequence[LayerGeometry], device: torch.device
) -> tuple[torch.Tensor, ...]:
    return regularizer.soft_costs(geometry, _cost_bits(model, device))


@dataclass
class EpochStats:
    loss: float
    acc: float
    reg_coefficient: float
    hard_cost: float


def as_source(data: object, y: torch.Tensor | None = None) -> SampleSource:
    """``data`` itself when it is a :class:`~csq_hw.data.SampleSource`, ``TensorSource(data, y)`` for tensors, and
    a DataLoader (map-style), Dataset or ``(x, y)`` pair through :func:`~csq_hw.data.source.as_sample_source`."""
    if isinstance(data, torch.Tensor):
        if y is None:
            raise TypeError("pass labels y with a tensor x")
        return TensorSource(data, y)
    if hasattr(data, "batches") and hasattr(data, "__len__"):
        return data  # type: ignore[return-value]
    return as_sample_source(data, torch.device("cpu"), "data")


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def train_epoch(
    model: nn.Module,
    data: SampleSource | torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    optimizer: torch.optim.Optimizer,
    regularizer: BudgetRegularizer | None,
    geometry: Sequence[LayerGeometry],
    batch_size: int,
    seed: int,
    epoch: int,
    steps_done: int,
    total_steps: int,
    base_lr: float,
    searching: bool,
    autocast: torch.dtype | None = None,
    loss_fn: LossFn | None = None,
    step_progress: bool = False,
    compile: bool = False,
) -> EpochStats:
    """One pass over the training samples: a :class:`~csq_hw.data.SampleSource`, or tensors ``data`` (N,
    *input_shape) and ``y`` (N,) int64 on the model's device.

    The global order is :func:`batch_order` ``(N, seed, epoch)``; ``batch_size`` is the global batch: under DDP
    (``model`` wrapped, process group active) each of the P ranks loads and runs its slice of every global batch and
    the gradient average equals the one-process gradient; a last batch with fewer samples than ranks is skipped.
    ``autocast``: run the forward pass under ``torch.autocast(dtype=autocast)`` (CUDA, bfloat16) for the float parts;
    the bit-plane weights are built in float32 regardless. ``loss_fn(output, target) -> scalar`` (default
    cross-entropy on integer labels; any other loss, e.g. MSE for regression, makes ``acc`` NaN).
    ``step_progress``: a nested per-step bar on stderr in an epoch of many steps
    (:func:`csq_hw.runtime.progress.step_bar`).
    ``compile``: run the forward pass, the task loss and, while searching, the budget's soft costs
    (:func:`forward_loss`) through ``torch.compile`` (their backward is compiled with them) while the weights are
    bit planes (search and plane hard phase; the straight-through fine-tune stays eager); the budget coefficients
    (Python floats), the optimizer step and the checks stay eager. The CSQ layers and the cost models trace without
    graph breaks (tests/test_compile.py); the first step in a new phase compiles (seconds).
    """
    source = as_source(data, y)
    model.train()
    device = _device_of(model)
    world = distributed.world_size()
    plan, n_globals = _global_batches(len(source), batch_size, seed, epoch)
    seen = 0.0
    total_loss = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: no read-back per step
    correct = torch.zeros((), dtype=torch.float64, device=device)
    term = _BudgetTerm(model, regularizer, geometry, device) if regularizer is not None and searching else None
    forward = _Forward(model, loss_fn, compile, term)
    batches = step_bar(source.batches(plan, epoch=epoch), len(plan), step_progress, f"epoch {epoch}")
    for j, (xb, yb) in enumerate(batches):
        n_global = n_globals[j]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(steps_done + j, total_steps, base_lr)
        with torch.autocast(device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            logits, loss, soft_costs = forward(xb, yb)
        if world > 1 and len(yb) * world != n_global:
            loss = loss * (len(yb) * world / n_global)  # DDP averages over ranks: make that the global mean
        if term is not None:
            loss = loss + term(soft_costs)
        if not math.isfinite(loss.item()):  # one host read (isfinite on the device: 4 more operations, then it)
            raise TrainingDiverged(
                f"loss became {float(loss.detach())} at epoch {epoch}, step {j}; lower --lr or the budget strength",
                epoch,
                j,
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.detach().double() * n_global / world
        if loss_fn is None:
            correct += (logits.detach().argmax(1) == yb).sum()
        seen += n_global / world
    total_loss, correct, seen = distributed.all_reduce_sum([float(total_loss), float(correct), seen], device)
    acc = correct / seen if loss_fn is None else float("nan")
    coef, hard_costs = (term.coef, term.hard_costs) if term is not None else (0.0, (0.0,))
    return EpochStats(total_loss / seen, acc, coef, hard_costs[0])


def _global_batches(n: int, batch_size: int, seed: int, epoch: int) -> tuple[list[torch.Tensor], list[int]]:
    """This rank's sample indices per step (the epoch's global order, :func:`batch_order`, cut into global batches
    of ``batch_size`` and sharded over the ranks under DDP) and each step's global batch size; a last batch with
    fewer samples than ranks is skipped."""
    rank, world = distributed.rank(), distributed.world_size()
    order = batch_order(n, seed, epoch)
    plan, n_globals = [], []
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        if world > 1:
            if len(idx) < world:
                break  # every rank needs at least one sample per step
            plan.append(distributed.shard(idx, rank, world))
        else:
            plan.append(idx)
        n_globals.append(len(idx))
    return plan, n_globals


class _BudgetTerm:
    """The search's budget term per step: the hard costs (cached by the hard state: they change only when a mask
    logit crosses 0), the coefficient they give, and the term on the soft costs (taken in the compiled graph, or
    here). ``coef`` and ``hard_costs`` hold the last step's."""

    def __init__(self, model: nn.Module, regularizer: BudgetRegularizer, geometry: Sequence[LayerGeometry],
                 device: torch.device) -> None:  # fmt: skip
        self.model, self.regularizer, self.geometry, self.device = model, regularizer, geometry, device
        self.cache: dict[tuple, tuple[float, ...]] = {}
        self.state_key = hard_state_keyer(model)
        self.coef, self.hard_costs = 0.0, (0.0,)

    def soft_costs(self) -> tuple[torch.Tensor, ...]:
        """Each constraint's soft cost of the relaxed bits (0-dim tensors; what the compiled graph takes)."""
        return _soft_costs(self.model, self.regularizer, self.geometry, self.device)

    def __call__(self, soft_costs: tuple[torch.Tensor, ...] | None) -> torch.Tensor:
        key = self.state_key()
        if key not in self.cache:  # per constraint
            self.cache[key] = self.regularizer.hard_costs(self.geometry, self.regularizer.budgets.bits(self.model))
        self.hard_costs = self.cache[key]
        self.coef = self.regularizer.coefficient(self.hard_costs)
        if soft_costs:
            return self.regularizer.term(soft_costs, self.hard_costs)
        return self.regularizer(self.geometry, _cost_bits(self.model, self.device), self.hard_costs)


class _Forward:
    """A step's forward pass and task loss (and, compiled, the budget's soft costs): ``(logits, loss, soft_costs)``.

    Compiled only while the weights are bit planes: dynamo's cache is keyed by the code, so later epochs reuse the
    graphs. Eager instead: the straight-through fine-tune (its value sets are cached on the host) and steps before
    every input quantizer has seen a batch (the graph would stop at that one host read, the signedness)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn | None, compile: bool, term: _BudgetTerm | None) -> None:
        self.eager = forward_loss(model, loss_fn)
        self.layers = [la for _, la in csq_layers(model)]
        self.compiled = None
        if compile and not any(la.is_finetuning for la in self.layers):
            self.compiled = torch.compile(forward_loss(model, loss_fn, term.soft_costs if term is not None else None))
        self.ready = self.compiled is not None and all(la.act_calibrated for la in self.layers)

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple:
        out = (self.compiled if self.ready else self.eager)(xb, yb)  # type: ignore[misc]
        if self.compiled is not None and not self.ready:
            self.ready = all(la.act_calibrated for la in self.layers)
        return out


def fixed_batch(
    data: SampleSource | torch.Tensor, y: torch.Tensor | None = None, *, seed: int, n: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random subset of ``n`` training samples, ``(x (n, *input_shape), y (n,))``, the same for a seed."""
    source = as_source(data, y)
    idx = batch_order(len(source), seed, -1)[:n]
    return next(iter(source.batches([idx])))


@torch.no_grad()
def recalibrate_activations(model: nn.Module, x: torch.Tensor) -> None:
    """Set every activation quantizer's range from one batch ``x`` (its running maximum restarts at the batch
    maximum; signedness kept). The rest of the model stays in eval mode (BatchNorm statistics untouched)."""
    quants = [la.act for _, la in csq_layers(model)]
    was = model.training
    model.eval()
    for q in quants:
        q.restart_calibration()
        q.train()
        q.calibrating = True
    try:
        model(x)
    finally:
        for q in quants:
            q.calibrating = False
        model.train(was)


def fixed_batch_loss(
    model: nn.Module, data: SampleSource | torch.Tensor, y: torch.Tensor | None = None, *, seed: int, n: int = 1024
):
    """A closure returning the mean cross-entropy of ``model`` (eval mode, no grad) on a fixed random subset of
    ``n`` training samples (loaded once): what the budget repair uses to rank bits."""
    return batch_loss(model, *fixed_batch(data, y, seed=seed, n=n))


def batch_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, loss_fn: LossFn | None = None):
    """A closure returning the mean loss (``loss_fn``, default cross-entropy) of ``model`` (eval mode, no grad) on
    the batch ``(xb, yb)``."""

    @torch.no_grad()
    def loss() -> float:
        was = model.training
        model.eval()
        value = float((loss_fn or F.cross_entropy)(model(xb).float(), yb))
        model.train(was)
        return value

    return loss


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: SampleSource | torch.Tensor,
    y: torch.Tensor | None = None,
    batch_size: int = 1024,
    dtype: torch.dtype | None = None,
) -> float:
    """Top-1 accuracy of ``model`` in eval mode on a source or on tensors ``(data, y)``; ``dtype``: cast the inputs
    (and move them to the model's device), e.g. float64 for the exact model."""
    source = as_source(data, y)
    was = model.training
    model.eval()
    device = _device_of(model)
    correct = 0
    for xb, yb in source.batches(sequential_plan(len(source), batch_size)):
        if dtype is not None:
            xb, yb = xb.to(device, dtype), yb.to(device)
        correct += int((model(xb).argmax(1) == yb).sum())
    model.train(was)
    return correct / max(len(source), 1)


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    data: SampleSource,
    loss_fn: LossFn,
    batch_size: int = 1024,
    dtype: torch.dtype | None = None,
) -> float:
    """Mean ``loss_fn`` of ``model`` in eval mode over a source (per-batch means weighted by batch size)."""
    was = model.training
    model.eval()
    device = _device_of(model)
    total = 0.0
    for xb, yb in data.batches(sequential_plan(len(data), batch_size)):
        if dtype is not None:
            xb, yb = xb.to(device, dtype), yb.to(device, dtype if yb.is_floating_point() else yb.dtype)
        total += float(loss_fn(model(xb), yb)) * len(xb)
    model.train(was)
    return total / max(len(data), 1)
