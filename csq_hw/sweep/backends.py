"""Execution backends of a sweep: a backend is a function ``(points, workers) -> iterable of PointResult`` that
yields results as points finish (any order). ``"local"`` (default) runs them in this process (``workers=1``) or in
a pool of ``workers`` spawned processes; ``"ray"`` one Ray task per point (:mod:`csq_hw.sweep.ray_backend`, loaded
only when asked for). Register another with :func:`register_backend`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from csq_hw.sweep.points import PointResult, PointSpec, run_safe

__all__ = ["Backend", "BACKENDS", "register_backend", "local_backend"]

Backend = Callable[[Sequence[PointSpec], int], Iterable[PointResult]]
BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, backend: Backend) -> None:
    """Make ``backend`` available as ``run_sweep(..., backend=name)`` (the CLI's ``--executor`` offers local, ray)."""
    BACKENDS[name] = backend


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def local_backend(points: Sequence[PointSpec], workers: int) -> Iterator[PointResult]:
    """Run ``points`` here (``workers <= 1``) or in ``workers`` spawned processes, each with
    ``cpu_count // workers`` torch threads; yields results as points finish."""
    if workers <= 1 or len(points) <= 1:
        for p in points:
            yield run_safe(p)
        return
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(threads,))
    try:
        futures = [pool.submit(run_safe, p) for p in points]
        for fut in as_completed(futures):
            yield fut.result()
    except BaseException:
        # Ctrl-C or an error: start nothing new and stop the running points (each keeps its last epoch's
        # checkpoint, so the next run of the sweep continues them); a pool worker would otherwise go on
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


register_backend("local", local_backend)


def _ray(points: Sequence[PointSpec], workers: int) -> Iterable[PointResult]:
    """``ray``: one Ray task per point (csq_hw.sweep.ray_backend; Ray is the optional extra ``csq-hw[ray]``)."""
    from csq_hw.sweep.ray_backend import ray_backend

    return ray_backend(points, workers)


register_backend("ray", _ray)
