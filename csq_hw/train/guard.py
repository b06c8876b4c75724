"""The hand-over guard: the exact model never starts, or ends, far below the soft model it replaces.

At the ticket the soft search model (soft masks, relaxed digits) gives way to the exact model that the fine-tune
trains; at the end the exact model is what the run hands over. Both times the guard scores the candidates on the
run's fixed batch of training samples (the one the budget repair ranks bits on) and keeps the best:

* at the hand-over, the fine-tune's start (the recipe's ``finetune_start``: the rewound warm-start weights, or the
  soft search weights) after the model's statistics are recalibrated on that batch; when it is *far below* the soft
  model (:func:`far_below`), the other start is tried too and the better one kept;
* at the end, the exact model as trained and the same model with its statistics recalibrated.

Recalibration (:func:`recalibrate_statistics`) re-estimates every BatchNorm's running statistics and then every
activation quantizer's range on the batch: the search's statistics describe the soft model, not the weights the
fine-tune starts from (a rewound BatchNorm network in eval mode otherwise runs on the soft weights' statistics).

Every decision is one :class:`GuardRecord`: printed as one line when it changed something, kept in
``summary.json`` (``guard``) and in the checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from csq_hw.quant.layers import csq_layers, set_phase
from csq_hw.train.trainer import LossFn, recalibrate_activations

__all__ = [
    "BatchScore",
    "GuardRecord",
    "ACC_GAP",
    "LOSS_RATIO",
    "batch_score",
    "far_below",
    "better",
    "recalibrate_statistics",
    "best_of",
    "guard_end",
    "score_words",
]

ACC_GAP = 0.10  # a classifier's start this far (10 points of accuracy on the fixed batch) below the soft model
LOSS_RATIO = 2.0  # any other loss: this many times the soft model's loss on the fixed batch


@dataclass(frozen=True)
class BatchScore:
    """A model's mean task ``loss`` and (classifiers) top-1 ``acc`` in [0, 1] on the fixed batch (eval mode)."""

    loss: float
    acc: float | None = None


@torch.no_grad()
def batch_score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], loss_fn: LossFn | None) -> BatchScore:
    """``model`` (eval mode, no gradient) scored on ``batch = (x (B, ...), y (B, ...))``; cross-entropy and accuracy
    when ``loss_fn`` is None (a classifier), else ``loss_fn`` alone."""
    was = model.training
    model.eval()
    try:
        out = model(batch[0]).float()
    finally:
        model.train(was)
    if loss_fn is not None:
        return BatchScore(float(loss_fn(out, batch[1])))
    return BatchScore(float(F.cross_entropy(out, batch[1])), float((out.argmax(1) == batch[1]).float().mean()))


def far_below(candidate: BatchScore, reference: BatchScore) -> bool:
    """Whether ``candidate`` is far below ``reference``: :data:`ACC_GAP` of accuracy below it (classifiers), or a
    loss :data:`LOSS_RATIO` times its loss or more (other losses)."""
    if candidate.acc is not None and reference.acc is not None:
        return reference.acc - candidate.acc > ACC_GAP
    return candidate.loss >= LOSS_RATIO * reference.loss and candidate.loss > reference.loss


def better(a: BatchScore, b: BatchScore) -> bool:
    """``a`` beats ``b``: higher accuracy (classifiers), lower loss at equal accuracy or for other losses."""
    if a.acc is not None and b.acc is not None and a.acc != b.acc:
        return a.acc > b.acc
    return a.loss < b.loss


@torch.no_grad()
def recalibrate_statistics(model: nn.Module, x: torch.Tensor) -> None:
    """Re-estimate every BatchNorm's running statistics on ``x`` (B, ...) (one training-mode pass, cumulative
    average: the batch's own mean and variance), then every activation quantizer's range
    (:func:`~csq_hw.train.trainer.recalibrate_activations`, in eval mode on the new statistics). Nothing trains."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if norms:
        was = model.training
        momenta = [m.momentum for m in norms]
        quants = [la.act for _, la in csq_layers(model)]
        frozen = [q.calibrating for q in quants]
        try:
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative: after one batch, exactly its statistics
            for q in quants:  # the quantizers follow the batch too, so the statistics see its quantized inputs
                q.restart_calibration()
                q.calibrating = True
            model.train()
            model(x)
        finally:
            for m, momentum in zip(norms, momenta, strict=True):
                m.momentum = momentum
            for q, calibrating in zip(quants, frozen, strict=True):
                q.calibrating = calibrating
            model.train(was)
    recalibrate_activations(model, x)


@dataclass
class GuardRecord:
    """One guard decision: where (``at``: ``"hand-over"`` or ``"end"``), the soft model's score, each candidate's
    score (``{name: BatchScore}``), the one kept and the one-line ``message`` (empty when the first candidate was
    kept without a change)."""

    at: str
    soft: BatchScore
    candidates: dict[str, BatchScore]
    kept: str
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "soft": dataclasses.asdict(self.soft), "kept": self.kept, "message": self.message,
                "candidates": {k: dataclasses.asdict(v) for k, v in self.candidates.items()}}  # fmt: skip


def _candidate_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every tensor a candidate may change: the shadow weights, the weight steps, the fine-tune flags,
    BatchNorm statistics, activation ranges, the float weights and biases; not the bit planes (2N per weight) and
    the mask and gate logits, which no candidate touches."""
    kept = {id(p) for _, la in csq_layers(model) for p in la.plane_parameters() + la.mask_parameters()}
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items() if id(v) not in kept}


def best_of(
    model: nn.Module,
    at: str,
    soft: BatchScore,
    candidates: list[tuple[str, Callable[[], None]]],
    score: Callable[[], BatchScore],
) -> GuardRecord:
    """Try ``candidates`` (``(name, apply)``: ``apply()`` turns the model into that candidate, in place) in order,
    stopping at the first that is not :func:`far_below` ``soft``; keep the best one tried (the model is left as it).

    The first candidate is the recipe's choice: it is kept unless a later one tried beats it. The record's
    ``message`` is left for the caller to word."""
    start = _candidate_state(model)
    scores: dict[str, BatchScore] = {}
    best_name, best_state = "", None
    for j, (name, apply) in enumerate(candidates):
        if j:
            model.load_state_dict(start, strict=False)
        apply()
        scores[name] = score()
        done = not far_below(scores[name], soft) or j + 1 == len(candidates)
        if not best_name or better(scores[name], scores[best_name]):  # copied only if another candidate follows
            best_name, best_state = name, None if done else _candidate_state(model)
        if done:
            break
    if best_name != list(scores)[-1]:  # the model holds the last candidate tried; the best was copied before it
        model.load_state_dict(best_state, strict=False)
    return GuardRecord(at, soft, scores, best_name)


def guard_end(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    loss_fn: LossFn | None,
    reference: BatchScore | None = None,
) -> GuardRecord:
    """The end's guard: the exact model (hard phase) against the soft one on ``batch``: the better of the model's
    ``relaxed`` phase (unprojected shadow weights, or relaxed digits) and ``reference`` (the soft search model's
    score at the hand-over: the relaxed model shares the exact one's statistics, so a fine-tune that broke them
    breaks both). When far below, the same model with recalibrated statistics (:func:`recalibrate_statistics`) is
    tried and the better one kept. Leaves the model in the hard phase."""
    set_phase(model, "relaxed")
    soft = batch_score(model, batch, loss_fn)
    set_phase(model, "hard")
    if reference is not None and better(reference, soft):
        soft = reference
    record = best_of(model, "end", soft, [("as trained", lambda: None),
                                          ("recalibrated", lambda: recalibrate_statistics(model, batch[0]))],
                     lambda: batch_score(model, batch, loss_fn))  # fmt: skip
    if record.kept != "as trained":
        was, now = record.candidates["as trained"], record.candidates["recalibrated"]
        record.message = (
            f"end guard: the exact model scored far below the soft model on the fixed batch ({score_words(was)} "
            f"against {score_words(soft)}); its BatchNorm statistics and activation ranges were recalibrated on that "
            f"batch ({score_words(now)})"
        )
    return record


def score_words(score: BatchScore) -> str:
    """``accuracy 63.2 %`` (classifiers) or ``loss 0.412``."""
    return f"accuracy {100 * score.acc:.1f} %" if score.acc is not None else f"loss {score.loss:.4g}"
