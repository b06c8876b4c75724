"""Data-parallel training under ``torchrun``: process-group setup, rank helpers and sharding.

``csq-hw train`` runs distributed when launched by ``torchrun`` (environment ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` with ``WORLD_SIZE > 1``): NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``), gloo on CPU.
Without those variables every helper here is a no-op for one process, so the single-process path is unchanged.

Equivalence with one process (what makes a run with P ranks and per-rank batch B/P reproduce a run with batch B):

* every rank draws the same global permutation per epoch (:func:`csq_hw.train.trainer.batch_order`) and takes a
  contiguous slice of each global batch (:func:`shard`);
* the per-rank mean cross-entropy is scaled by ``P * n_rank / n_global`` so DDP's gradient average is the
  global-batch mean even when the last batch does not split evenly;
* the budget term is computed identically on every rank (same parameters), so averaging leaves it unchanged;
* activation-quantizer calibration reduces the batch max (and "any negative") with MAX over ranks
  (:func:`max_across_ranks`): the statistic one process would see on the whole batch;
* BatchNorm: SyncBatchNorm on CUDA (global-batch statistics); on CPU torch has no SyncBatchNorm, so each rank
  normalises with its own shard's statistics (models without BN, such as ``digits-cnn``, are unaffected).

Results agree with the single-process run up to float reduction order; the test target is equal precisions.
"""

from __future__ import annotations

import datetime
import gc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistContext",
    "env_world",
    "setup",
    "teardown",
    "active",
    "rank",
    "world_size",
    "is_main",
    "barrier",
    "shard",
    "all_reduce_sum",
    "max_across_ranks",
    "broadcast_object",
    "wrap_model",
    "to_sync_batchnorm",
    "from_sync_batchnorm",
]


@dataclass(frozen=True)
class DistContext:
    """The process's place in the job. ``owned``: this module created the process group (and tears it down)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    owned: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world() -> tuple[int, int, int] | None:
    """``(rank, world_size, local_rank)`` from torchrun's environment, or None outside torchrun / for one process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank_ = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank_)))
    except ValueError:
        return None
    return (rank_, world, local) if world > 1 else None


def active() -> bool:
    """True inside an initialised process group with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes files and shows progress."""
    return rank() == 0


def setup(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the torchrun job if there is one; returns the context and this rank's device.

    CUDA: one GPU per process (``cuda:LOCAL_RANK``) and NCCL; CPU: gloo. An already initialised process group
    (a caller's own) is used as it is and left alone by :func:`teardown`.
    """
    if dist.is_available() and dist.is_initialized():
        if device.type == "cuda":
            device = torch.device("cuda", torch.cuda.current_device())
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                           dist.get_backend(), owned=False), device  # fmt: skip
    env = env_world()
    if env is None:
        return DistContext(), device
    rank_, world, local = env
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            from csq_hw.errors import UserError

            raise UserError(
                f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s); start torchrun with "
                "--nproc_per_node at most the GPU count, or --device cpu"
            )
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend, rank=rank_, world_size=world, timeout=datetime.timedelta(minutes=30))
    return DistContext(rank_, world, local, backend, owned=True), device


def teardown(ctx: DistContext, clean: bool = True) -> None:
    """Destroy the process group if :func:`setup` created it.

    ``clean``: the run ended normally on this rank, so every rank reaches this point: a barrier first, so that no
    rank destroys its gloo/NCCL communicators while a peer still has a collective (the final broadcast) in flight.
    Without it a rank could exit while the other was still inside gloo and abort at shutdown (SIGABRT,
    ``terminate called without an active exception``) after rank 0 had written every file. After an error on this
    rank (``clean=False``) the peers may never reach the barrier, so the group is destroyed without one (torchrun
    then stops the job on the error's exit code).
    """
    if not (ctx.owned and dist.is_initialized()):
        return
    # the DDP wrapper (its Reducer holds the group and gloo work) sits in reference cycles: free it now, while the
    # group and the interpreter are alive, not during interpreter shutdown after the group is gone
    gc.collect()
    if clean:
        dist.barrier()
    dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def shard(indices: torch.Tensor, rank_: int, world: int) -> torch.Tensor:
    """This rank's contiguous slice of one global batch (sizes differ by at most one; earlier ranks get more)."""
    return torch.tensor_split(indices, world)[rank_]


def all_reduce_sum(values: Sequence[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum Python floats over ranks (float64); the values themselves for one process."""
    if not active():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.tolist()]


def max_across_ranks(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Element-wise MAX over ranks of 0-dim tensors (one collective for all of them); unchanged for one process."""
    if not active():
        return list(tensors)
    dtype = tensors[0].dtype if tensors[0].is_floating_point() else torch.float32
    t = torch.stack([x.detach().to(dtype) for x in tensors])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [t[j].to(x.dtype) for j, x in enumerate(tensors)]


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (pickled); the object itself for one process."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` (SyncBatchNorm first on CUDA); ``model`` itself for one process.

    ``find_unused_parameters=True``: in the hard phase the mask and gate logits take no part in the forward pass
    (hard masks are detached), and which parameters are used changes at the phase switch, so a static graph
    does not fit.
    """
    if not active():
        return model
    if device.type == "cuda":
        model = to_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


_BN_KIND = "_csq_bn_kind"


def to_sync_batchnorm(model: nn.Module) -> nn.Module:
    """``nn.SyncBatchNorm.convert_sync_batchnorm``, remembering each BatchNorm's class for
    :func:`from_sync_batchnorm` (the exact-model conversion knows BatchNorm1d/2d only)."""
    kinds = {
        name: type(m)
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, nn.SyncBatchNorm)
    }
    out = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, m in out.named_modules():
        if isinstance(m, nn.SyncBatchNorm) and name in kinds:
            m.__dict__[_BN_KIND] = kinds[name]
    return out


def _plain_bn(m: nn.SyncBatchNorm) -> nn.Module:
    cls = m.__dict__.get(_BN_KIND, nn.BatchNorm2d)
    bn = cls(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    if m.affine:
        bn.weight, bn.bias = m.weight, m.bias  # the same Parameters: no copy
    bn.running_mean, bn.running_var, bn.num_batches_tracked = m.running_mean, m.running_var, m.num_batches_tracked
    bn.train(m.training)
    return bn


def from_sync_batchnorm(model: nn.Module) -> nn.Module:
    """Undo :func:`to_sync_batchnorm` in place (sharing parameters and buffers); returns the model."""
    if isinstance(model, nn.SyncBatchNorm):
        return _plain_bn(model)
    for name, child in list(model.named_children()):
        new = from_sync_batchnorm(child)
        if new is not child:
            setattr(model, name, new)
    return model
