"""The optimizers of a CSQ run: parameter groups (no decay on mask logits), the fastest kernel torch has, and the
low-memory options for the bit planes (:mod:`csq_hw.train.compact_adam`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from csq_hw.errors import UserError
from csq_hw.quant.layers import csq_layers
from csq_hw.runtime import distributed
from csq_hw.train.compact_adam import CompactAdam

__all__ = ["make_optimizer", "optimizer_kernel", "load_optimizer_state"]


def make_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float,
    finetune: bool = False,
    plane_adam_state: str = "float32",
    plane_step_in_backward: bool = False,
    seed: int = 0,
) -> torch.optim.Optimizer:
    """Adam or SGD (momentum 0.9). Mask and gate logits, weight steps and learned activation ranges get no weight
    decay (it would pull them to the threshold, or to a range of 1), unlike the reference code (pitfall 8).

    ``finetune=False`` (the search): every trainable parameter but the fine-tune shadow weights.
    ``finetune=True`` (straight-through fine-tune, plain QAT): the shadow weights and every parameter outside the
    bit-plane machinery (biases, BatchNorm, float layers); planes, masks, gates and steps stay frozen.
    Memory of the bit planes (Adam, search; :class:`~csq_hw.train.compact_adam.CompactAdam`): with
    ``plane_adam_state="bfloat16"`` their moments are stored in bfloat16, stochastically rounded (seeded by
    ``seed``); with ``plane_step_in_backward`` each plane tensor is updated inside ``backward()`` and its gradient
    dropped at once (one process only).
    """
    if plane_step_in_backward and distributed.world_size() > 1:
        raise UserError(
            "plane_step_in_backward updates each rank's planes from its own gradient, before DDP averages "
            "them; run it in one process, or use plane_adam_state=bfloat16 alone under torchrun"
        )
    layers = [la for _, la in csq_layers(model)]
    search_only = {id(p) for la in layers for p in la.search_parameters()}
    finetune_only = {id(p) for la in layers for p in la.finetune_parameters()}
    undecayed = {id(p) for la in layers for p in la.mask_parameters() + la.step_parameters() + la.range_parameters()}
    own_loop = (plane_adam_state != "float32" or plane_step_in_backward) and name == "adam" and not finetune
    planes = {id(p) for la in layers for p in la.plane_parameters()} if own_loop else set()
    decay, no_decay, plane_group = [], [], []
    for p in model.parameters():  # module order, so that a checkpoint's optimizer state lines up
        if not p.requires_grad:
            continue
        if id(p) in (search_only if finetune else finetune_only):
            continue
        (plane_group if id(p) in planes else no_decay if id(p) in undecayed else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kernel = optimizer_kernel(decay + no_decay + plane_group)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, **kernel)
    if own_loop:
        groups.append({"params": plane_group, "weight_decay": weight_decay, "plane_state": plane_adam_state})
        opt = CompactAdam(groups, lr=lr, seed=seed, **kernel)
        if plane_step_in_backward:
            opt.step_in_backward()
        return opt
    return torch.optim.Adam(groups, lr=lr, **kernel)


def optimizer_kernel(params: Sequence[torch.Tensor]) -> dict[str, bool]:
    """``{"fused": True}`` where torch has a fused Adam/SGD kernel for every parameter (floating point, on the CPU
    or a CUDA device: one kernel for all tensors; on CPU 3-4 x faster than ``foreach`` for the 2N bit planes per
    weight, see ``benchmarks/step_time.py``), else ``{"foreach": True}``. Same update rule either way (float32
    rounding may differ)."""
    fusable = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return {"fused": True} if fusable else {"foreach": True}


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict, path: object) -> None:
    """``optimizer.load_state_dict(state)``; a state of other parameter groups (a resume with ``--allow-changes``
    that switched ``optimizer``, ``plane_adam_state`` or ``plane_step_in_backward``) is a :class:`UserError`."""
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError) as exc:
        raise UserError(f"the optimizer state in {path} does not fit this run's optimizer settings "
                        f"({str(exc).splitlines()[0][:100]}); resume with the optimizer, plane_adam_state and "
                        "plane_step_in_backward it was written with") from None  # fmt: skip
