"""Optional float warm start: train the float model for a few epochs before converting it to CSQ.

The CSQ reference code starts from random weights (its ``--pretrained`` flag is parsed but unused); BSQ starts from
a pretrained float model. With short schedules a float warm start lets the bit planes start from a useful network:
``convert`` writes the trained float weights into the planes (``round(|w| / step)`` in binary).
Same optimiser family, data order and cosine schedule as the CSQ loop, no budget term.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from csq_hw.data.source import SampleSource
from csq_hw.errors import TrainingDiverged
from csq_hw.runtime.progress import LoopProgress, step_bar
from csq_hw.train.trainer import LossFn, as_source, batch_order, lr_at, optimizer_kernel

__all__ = ["pretrain_float"]


def pretrain_float(
    model: nn.Module,
    data: SampleSource | torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    loss_fn: LossFn | None = None,
    progress: bool = False,
    log_format: str = "bar",
) -> nn.Module:
    """Train ``model`` (float) in place with Adam and per-step cosine decay for ``epochs`` epochs; returns it.

    ``data``: a :class:`~csq_hw.data.SampleSource`, or a (N, *input_shape) float tensor on the model's device with
    labels ``y`` (N,) int64. ``loss_fn``: the task loss (default cross-entropy). ``progress``: on stderr, a bar
    over the warm-start epochs (``log_format="bar"``, with per-step bars in long epochs) or one line per epoch
    (``"plain"``), each with the epoch's mean training loss.
    """
    if epochs <= 0:
        return model
    source = as_source(data, y)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr, **optimizer_kernel(params))
    n = len(source)
    steps_per_epoch = -(-n // batch_size)
    total = steps_per_epoch * epochs
    model.train()
    report = LoopProgress(epochs, desc="float warm start", unit="epoch", log_format=log_format, enabled=progress)
    for epoch in range(epochs):
        order = batch_order(n, seed + 7919, epoch)  # a stream distinct from the CSQ epochs
        plan = [order[start : start + batch_size] for start in range(0, n, batch_size)]
        batches = step_bar(source.batches(plan, epoch=epoch), len(plan), report.step_bars, f"warm start {epoch}")
        loss_sum = torch.zeros((), device=next(model.parameters()).device)
        for j, (xb, yb) in enumerate(batches):
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch * steps_per_epoch + j, total, lr)
            loss = (loss_fn or F.cross_entropy)(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        mean = float(loss_sum) / len(plan)  # one host sync per epoch
        if not math.isfinite(mean):  # NaN weights would reach the bit planes' conversion
            report.close()
            raise TrainingDiverged(f"the float warm start's loss became {mean} at epoch {epoch}; lower --lr", epoch, 0)
        report.update({"loss": f"{mean:.4f}"})
    report.close()
    return model
