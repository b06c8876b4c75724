"""Where the trainer's batches come from: tensors in memory or a streaming loader, behind one interface.

The trainer decides *which* samples form each batch (a seeded global order, sharded over DDP ranks) and hands the
list of index batches (the "plan") to a source, which returns the samples:

* :class:`TensorSource`: ``x[idx], y[idx]`` of tensors already on the device (the small data sets);
* :class:`LoaderSource`: a ``torch.utils.data.DataLoader`` over a map-style data set with the plan as its batch
  sampler, decoded by worker processes and copied to the device (ImageNet).

Both give the same batches for the same plan, so DDP sharding, resume and the budget repair's fixed batch work the
same way for either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import torch

from csq_hw.errors import UserError

__all__ = ["LoaderSource", "SampleSource", "TensorSource", "sequential_plan", "as_sample_source"]


class SampleSource(Protocol):
    """``len(source)`` samples; ``batches(plan)`` yields ``(x (B, *sample_shape) float, y (B,) int64)`` per index
    batch of ``plan`` (1-D int64 tensors), on the source's device."""

    def __len__(self) -> int: ...

    def batches(self, plan: Sequence[torch.Tensor], epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


def sequential_plan(n: int, batch_size: int) -> list[torch.Tensor]:
    """Index batches ``[0, B), [B, 2B), ...`` over ``n`` samples (evaluation order)."""
    return list(torch.arange(n).split(batch_size))


class TensorSource:
    """Samples held as tensors: x (N, *sample_shape) float, y (N,) int64, both on the same device."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def batches(self, plan: Sequence[torch.Tensor], epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for idx in plan:
            idx = idx.to(self.x.device)
            yield self.x[idx], self.y[idx]


class LoaderSource:
    """A map-style data set (``dataset[i] -> (x, y)``) decoded by ``workers`` DataLoader processes.

    ``dataset.epoch`` (when present) is set to ``epoch`` before each pass, so epoch-dependent augmentation is
    reproducible. Batches are pinned and copied asynchronously when ``device`` is CUDA.
    """

    def __init__(self, dataset: torch.utils.data.Dataset, device: torch.device, workers: int = 4) -> None:
        self.dataset, self.device, self.workers = dataset, torch.device(device), max(int(workers), 0)

    def __len__(self) -> int:
        return len(self.dataset)

    def batches(self, plan: Sequence[torch.Tensor], epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if hasattr(self.dataset, "epoch"):
            self.dataset.epoch = epoch  # copied into the workers when the iterator starts them
        cuda = self.device.type == "cuda"
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=[idx.tolist() for idx in plan],
            num_workers=self.workers,
            pin_memory=cuda,
        )
        for x, y in loader:
            yield x.to(self.device, non_blocking=cuda), y.to(self.device, non_blocking=cuda)


def as_sample_source(data: object, device: torch.device, what: str) -> SampleSource:
    """A DataLoader (over a map-style data set), a ``torch.utils.data.Dataset`` or an ``(x, y)`` pair of tensors
    as a :class:`SampleSource`. The trainer draws its own seeded batches (so resume and DDP work), so a
    DataLoader's sampler and shuffle are not used; its data set and worker count are."""
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return TensorSource(data[0].to(device), data[1].to(device))
    workers = 0
    if isinstance(data, torch.utils.data.DataLoader):
        data, workers = data.dataset, data.num_workers
    if isinstance(data, torch.utils.data.IterableDataset) or not hasattr(data, "__getitem__"):
        raise UserError(f"{what}: give a DataLoader over a map-style Dataset (with __getitem__ and __len__), a "
                        "Dataset, or an (x, y) pair of tensors; iterable data sets cannot be re-drawn per "
                        "epoch")  # fmt: skip
    if isinstance(data, torch.utils.data.TensorDataset) and len(data.tensors) == 2:
        return TensorSource(data.tensors[0].to(device), data.tensors[1].to(device))
    return LoaderSource(data, device, workers=workers)
