"""Optional float warm start: train the float model for a few epochs before converting it to CSQ.

The CSQ reference code starts from random weights (its ``--pretrained`` flag is parsed but unused); BSQ starts from
a pretrained float model. With short schedules a float warm start lets the bit planes start from a useful network:
``convert`` writes the trained float weights into the planes (``round(|w| / step)`` in binary).
Same optimiser family, data order and cosine schedule as the CSQ loop, no budget term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .trainer import batch_order, lr_at

__all__ = ["pretrain_float"]


def pretrain_float(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> nn.Module:
    """Train ``model`` (float) in place with Adam and per-step cosine decay for ``epochs`` epochs; returns it.

    x: (N, *input_shape) float tensor on the model's device; y: (N,) int64.
    """
    if epochs <= 0:
        return model
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    steps_per_epoch = -(-len(x) // batch_size)
    total = steps_per_epoch * epochs
    model.train()
    for epoch in range(epochs):
        order = batch_order(len(x), seed + 7919, epoch).to(x.device)  # a stream distinct from the CSQ epochs
        for j, start in enumerate(range(0, len(x), batch_size)):
            idx = order[start : start + batch_size]
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch * steps_per_epoch + j, total, lr)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model
