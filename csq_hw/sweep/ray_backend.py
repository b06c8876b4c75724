"""The ``ray`` sweep backend: one Ray task per sweep point, with its own resources (CPUs, GPUs).

Install with ``pip install "csq-hw[ray]"``. Use::

    csq-hw sweep ... --executor ray [--ray-cpus 2] [--ray-gpus 1]      # or run_sweep(..., backend="ray")
    RAY_ADDRESS=ray://head:10001 csq-hw sweep ... --executor ray         # an existing cluster

Where a Ray instance is already initialised in the process it is used; otherwise ``ray.init()`` joins the cluster in
``RAY_ADDRESS`` or starts a local instance (and shuts it down at the end). Each task runs
:func:`csq_hw.sweep.run_point` on a worker with ``num_cpus`` torch threads; with ``num_gpus > 0`` Ray assigns a
GPU and ``device = "auto"`` picks it. Every task trains into the point's run directory (an absolute path: on one machine
or a cluster with a shared file system at the same path, checkpoints there let an interrupted sweep continue) and
also returns its small output files, which the driver writes into the run directory when they are not there
(a cluster without a shared file system), so the results table is collected exactly as for the local backend.

``workers``: at most that many points in flight when > 1; 1 (the CLI default) leaves scheduling to Ray's resources.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from csq_hw.errors import UserError
from csq_hw.sweep.points import PointResult, PointSpec

__all__ = ["ray_backend", "make_ray_backend", "RETURNED_FILES"]

# small run-directory files shipped back to the driver (checkpoint.pt stays on the worker)
RETURNED_FILES = ("config.toml", "metrics.csv", "precisions.json", "exact_model.pt", "summary.json")


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError('the ray backend needs Ray: pip install "csq-hw[ray]" (or "ray[default]>=2.9")') from None
    return ray


def _run_task(point: PointSpec, threads: int) -> tuple[PointResult, dict[str, bytes]]:
    """Body of one Ray task: train the point, return its result and output files."""
    import torch

    from csq_hw.sweep.points import run_safe

    torch.set_num_threads(max(1, threads))
    run_dir = Path(point.run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError:  # the driver's path does not exist here and cannot be made: train in a scratch directory
        run_dir = Path(tempfile.mkdtemp(prefix="csq-hw-point-"))
    res = run_safe(replace(point, run_dir=str(run_dir)))
    files = {n: (run_dir / n).read_bytes() for n in RETURNED_FILES if (run_dir / n).is_file()}
    return PointResult(point, res.summary, res.error), files


def _write_back(point: PointSpec, files: dict[str, bytes]) -> None:
    """Write returned files the driver's run directory lacks (summary.json last: it marks the point finished)."""
    run_dir = Path(point.run_dir)
    if (run_dir / "summary.json").is_file() or not files:
        return  # shared file system (or nothing to write)
    from csq_hw.runtime.atomic_io import atomic_write

    run_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n == "summary.json"):
        atomic_write(run_dir / name, lambda f, data=files[name]: f.write(data))


def ray_backend(
    points: Sequence[PointSpec], workers: int, num_cpus: float = 1, num_gpus: float = 0, address: str | None = None
) -> Iterator[PointResult]:
    """Run ``points`` as Ray tasks with ``num_cpus``/``num_gpus`` each; yields results as tasks finish."""
    ray = _import_ray()
    if num_cpus <= 0 or num_gpus < 0:
        raise UserError(f"ray resources per run: num_cpus={num_cpus} must be > 0 and num_gpus={num_gpus} >= 0")
    points = [replace(p, run_dir=str(Path(p.run_dir).resolve())) for p in points]
    if not points:
        return
    started = False
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                 log_to_driver=False)  # fmt: skip
        started = True
    total = ray.cluster_resources()
    if num_cpus > total.get("CPU", 0) or num_gpus > total.get("GPU", 0):
        raise UserError(
            f"each sweep run asks for {num_cpus:g} CPU and {num_gpus:g} GPU but the Ray cluster has "
            f"{total.get('CPU', 0):g} CPU and {total.get('GPU', 0):g} GPU; lower --ray-cpus/--ray-gpus"
        )
    task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(_run_task)
    cap = workers if workers > 1 else len(points)
    todo = list(points)
    pending: dict[Any, PointSpec] = {}
    try:
        while todo or pending:
            while todo and len(pending) < cap:
                p = todo.pop(0)
                pending[task.remote(p, int(max(1, num_cpus)))] = p
            done, _ = ray.wait(list(pending), num_returns=1)
            point = pending.pop(done[0])
            try:
                res, files = ray.get(done[0])
            except Exception as exc:  # noqa: BLE001 - a crashed task (worker died, unexpected error): report it
                yield PointResult(point, error=f"ray task failed: {' '.join(str(exc).split())[:500]}")
                continue
            _write_back(point, files)
            yield res
    except BaseException:
        for ref in pending:  # Ctrl-C or an error: stop the running points (they keep their checkpoints)
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


def make_ray_backend(num_cpus: float = 1, num_gpus: float = 0, address: str | None = None):
    """A :data:`csq_hw.sweep.Backend` with fixed per-run resources (for ``run_sweep(..., backend=...)``)."""

    def backend(points: Sequence[PointSpec], workers: int) -> Iterator[PointResult]:
        return ray_backend(points, workers, num_cpus=num_cpus, num_gpus=num_gpus, address=address)

    return backend
