"""Budget sweeps: many CSQ runs (and the uniform-precision baseline) for one model, data set and cost model.

Example::

    from csq_hw import TrainConfig
    from csq_hw.sweep import budget_list, run_sweep
    base = TrainConfig(model="mnist1d-cnn", dataset="mnist1d", act_bits="search", epochs=40)
    df = run_sweep(base, budget_list("bops", budget_range="1e5:8e5:5"), "runs/sweep", workers=2,
                   baseline_bits=[2, 3, 4, 5, 6, 8])

Every point is one run directory under ``OUT/runs/`` (``csq_hw.run.train_run`` output, exportable with
``csq-hw export``); the table ``OUT/results.csv`` (and ``results.parquet`` where pyarrow is installed) has one row
per point (columns in :mod:`csq_hw.sweep_table`). A point whose run directory already holds ``summary.json`` is
skipped, so running the same sweep again resumes it; a point with only ``checkpoint.pt`` continues from it.

Execution backends are pluggable: a backend is a function ``(points, workers) -> iterable of PointResult`` that
yields results as points finish (any order). ``"local"`` (default) runs them in this process (``workers=1``) or in
a pool of ``workers`` spawned processes. :func:`run_point` is a pure function of ``(TrainConfig, out_dir)``, so
another backend (e.g. Ray) only has to ship it to its workers; register one with :func:`register_backend`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .config import TrainConfig, load_config
from .errors import UserError

__all__ = [
    "PointSpec",
    "PointResult",
    "Backend",
    "BACKENDS",
    "register_backend",
    "parse_budget_values",
    "budget_list",
    "make_points",
    "check_budgets",
    "run_point",
    "local_backend",
    "run_sweep",
    "load_results",
    "RESULTS_CSV",
]

RESULTS_CSV = "results.csv"  # also csq_hw.sweep_table.RESULTS_CSV
RUNS_DIR = "runs"
_EMPTY = "empty budget list; give --budgets 1e5,2e5 (values in the cost's unit, or uN) or --budget-range LO:HI:N"


@dataclass(frozen=True)
class PointSpec:
    """One point of a sweep: ``method`` (``"csq"``, ``"qat"`` or ``"uniform"``), its label (the budget spec, e.g.
    ``"bops=200000"``, or ``"bops=u4"`` for uniform 4-bit), the full training config and its run directory."""

    method: str
    label: str
    cfg: TrainConfig
    run_dir: str


@dataclass(frozen=True)
class PointResult:
    """What a backend returns for one point: the summary dict (``summary.json``) or a one-line error."""

    point: PointSpec
    summary: dict[str, Any] | None = None
    error: str | None = None


Backend = Callable[[Sequence[PointSpec], int], Iterable[PointResult]]
BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, backend: Backend) -> None:
    """Make ``backend`` available as ``run_sweep(..., backend=name)`` / ``csq-hw sweep --backend name``."""
    BACKENDS[name] = backend


# --- budget lists -----------------------------------------------------------------------------------------------
def _number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise UserError(f"{what} {text!r} is not a number; write e.g. 1e5") from None
    if not (v > 0 and math.isfinite(v)):
        raise UserError(f"{what} {text!r} must be positive and finite")
    return v


def parse_budget_values(budgets: str | None = None, budget_range: str | None = None) -> list[str]:
    """Budget values as strings: ``"1e5,2e5,u3"`` (comma list; numbers in the cost's unit or ``uN``) and/or
    ``"LO:HI:N"`` (N log-spaced values from LO to HI inclusive). Duplicates are dropped, order kept."""
    values: list[str] = []
    if budgets is not None:
        for item in budgets.split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower().startswith("u"):
                _number(item[1:], "uniform budget bits in")
                values.append(item.lower())
            else:
                values.append(f"{_number(item, 'budget'):.6g}")
    if budget_range is not None:
        parts = budget_range.split(":")
        if len(parts) != 3:
            raise UserError(f"--budget-range {budget_range!r} is not LO:HI:N; write e.g. 1e5:8e5:5")
        lo, hi = _number(parts[0], "budget range start"), _number(parts[1], "budget range end")
        try:
            n = int(parts[2])
        except ValueError:
            raise UserError(f"--budget-range count {parts[2]!r} is not an integer; write e.g. 1e5:8e5:5") from None
        if n < 1 or (n == 1 and lo != hi) or lo > hi:
            raise UserError(f"--budget-range {budget_range!r}: need LO <= HI and N >= 2 (N = 1 only when LO = HI)")
        step = (math.log(hi) - math.log(lo)) / max(n - 1, 1)
        # 4 significant digits, then the same text as a listed value, so 2e5 listed or from a range is one point
        values += [f"{float(f'{math.exp(math.log(lo) + j * step):.4g}'):.6g}" for j in range(n)]
    out = list(dict.fromkeys(values))
    if not out:
        raise UserError(_EMPTY)
    return out


def budget_list(kind: str, budgets: str | Sequence[str] | None = None, budget_range: str | None = None) -> list[str]:
    """Full budget specs ``KIND=VALUE`` for :func:`run_sweep`, e.g. ``budget_list("bops", "1e5,2e5")``."""
    if budgets is not None and not isinstance(budgets, str):
        budgets = ",".join(str(b) for b in budgets)
    return [f"{kind}={v}" for v in parse_budget_values(budgets, budget_range)]


# --- points -----------------------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-")


BASELINES = ("qat", "uniform")


def make_points(
    base_cfg: TrainConfig,
    budgets: Sequence[str],
    out_dir: str | Path,
    baseline_bits: Sequence[int] | None = None,
    baseline: str = "qat",
) -> list[PointSpec]:
    """CSQ points (one per budget spec) and baseline points at each of ``baseline_bits`` (weights and
    activations, same quantizers, data and epochs; priced in the first budget's cost kind).

    ``baseline``: ``"qat"`` (plain straight-through uniform QAT on float shadow weights, the reference line) or
    ``"uniform"`` (CSQ's bit planes with every position fixed: an ablation).
    """
    if not budgets:
        raise UserError(_EMPTY)
    if baseline not in BASELINES:
        raise UserError(f"unknown baseline {baseline!r}; use one of {', '.join(BASELINES)}")
    from cost_models import split_budget_spec

    runs = Path(out_dir) / RUNS_DIR
    points = []
    for spec in dict.fromkeys(budgets):
        kind, value = split_budget_spec(spec)
        name = f"csq-{_slug(kind)}-{_slug(value)}-s{base_cfg.seed}"
        cfg = base_cfg.replace(budget=spec, uniform=False, qat=False)
        points.append(PointSpec("csq", spec, cfg, str(runs / name)))
    kind = split_budget_spec(budgets[0])[0]
    for b in dict.fromkeys(baseline_bits or ()):
        if isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 16:
            raise UserError(f"uniform baseline bits {b!r}; give integers 2..16, e.g. --uniform-bits 2,3,4,5,6,8")
        qat = baseline == "qat"
        cfg = base_cfg.replace(uniform=not qat, qat=qat, max_bits=b, act_bits=b, budget=f"{kind}=u{b}")
        run_dir = runs / f"{baseline}-w{b}a{b}-s{base_cfg.seed}"
        points.append(PointSpec(baseline, f"{kind}=u{b}", cfg, str(run_dir)))
    return points


def check_budgets(points: Sequence[PointSpec]) -> None:
    """Resolve every CSQ budget against its model before anything trains; one error naming every infeasible one."""
    from cost_models import CostError

    from .run import build_csq_model

    bad = []
    for p in points:
        if p.method != "csq":
            continue
        try:
            build_csq_model(p.cfg)  # converts, traces and resolves the budget (milliseconds for small models)
        except (UserError, CostError) as exc:
            bad.append((p.label, " ".join(str(exc).split())))
    if bad:
        which = ", ".join(label for label, _ in bad)
        raise UserError(f"{len(bad)} of {sum(p.method == 'csq' for p in points)} budgets infeasible ({which}): "
                        f"{bad[0][1]}")  # fmt: skip


# --- running ----------------------------------------------------------------------------------------------------
def run_point(cfg: TrainConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train one point into ``out_dir`` (continuing from its checkpoint if one is there); returns the summary.

    A pure function of its arguments (no globals, no progress bars), safe to ship to any worker process.
    """
    from .checkpoint import CHECKPOINT_NAME
    from .run import train_run

    out = Path(out_dir)
    return train_run(cfg, out, resume=(out / CHECKPOINT_NAME).is_file(), progress=False)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_safe(point: PointSpec) -> PointResult:
    from cost_models import CostError

    try:
        return PointResult(point, summary=run_point(point.cfg, point.run_dir))
    except (UserError, CostError) as exc:
        return PointResult(point, error=" ".join(str(exc).split()))


def local_backend(points: Sequence[PointSpec], workers: int) -> Iterator[PointResult]:
    """Run ``points`` here (``workers <= 1``) or in ``workers`` spawned processes, each with
    ``cpu_count // workers`` torch threads; yields results as points finish."""
    if workers <= 1 or len(points) <= 1:
        for p in points:
            yield _run_safe(p)
        return
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(threads,))
    try:
        futures = [pool.submit(_run_safe, p) for p in points]
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
    """``ray``: one Ray task per point (csq_hw.sweep_ray; Ray is the optional extra ``csq-hw[ray]``)."""
    from .sweep_ray import ray_backend

    return ray_backend(points, workers)


register_backend("ray", _ray)


def _finished(point: PointSpec) -> bool:
    """True when the point's run directory holds a finished run made with the same config."""
    run_dir = Path(point.run_dir)
    if not (run_dir / "summary.json").is_file():
        return False
    if not (run_dir / "config.toml").is_file():
        raise UserError(f"{run_dir} has summary.json but no config.toml; delete it and run the sweep again")
    saved = load_config(run_dir / "config.toml")
    diff = sorted(k for k in saved.__dataclass_fields__ if k != "device" and getattr(saved, k) != getattr(point.cfg, k))
    if diff:
        raise UserError(f"{run_dir} was trained with different settings ({', '.join(diff)}); use the same settings "
                        "or another --out")  # fmt: skip
    return True


def run_sweep(
    base_cfg: TrainConfig,
    budgets: Sequence[str],
    out_dir: str | Path,
    workers: int = 1,
    baseline_bits: Sequence[int] | None = None,
    backend: str | Backend = "local",
    progress: bool = True,
    baseline: str = "qat",
) -> Any:
    """Run every point not yet finished, then write and return the results table (a pandas DataFrame).

    Args:
        base_cfg: model, data, epochs, quantization (e.g. ``act_bits="search"``); its ``budget`` is replaced.
        budgets: CSQ budget specs ``KIND=VALUE`` (see :func:`budget_list`); at least one.
        out_dir: sweep directory: ``runs/<point>/`` per point, ``results.csv`` (+ ``.parquet``), ``sweep.json``.
        workers: concurrent points (processes for ``"local"``).
        baseline_bits: uniform-precision baseline widths (weights and activations), e.g. ``[2, 3, 4, 5, 6, 8]``.
        baseline: ``"qat"`` (plain straight-through QAT, default) or ``"uniform"`` (bit-plane ablation).
        backend: a registered name (``"local"``) or a :data:`Backend` function.
        progress: a tqdm bar over points.

    Raises:
        UserError: empty or infeasible budgets, unknown backend, a run dir with other settings, or failed points
            (after the table of the finished ones is written).
    """
    from tqdm.auto import tqdm

    from .sweep_table import collect_results, write_results, write_sweep_meta

    if workers < 1:
        raise UserError(f"workers={workers}; give at least 1")
    if isinstance(backend, str):
        if backend not in BACKENDS:
            raise UserError(f"unknown sweep backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
        backend = BACKENDS[backend]
    out = Path(out_dir)
    points = make_points(base_cfg, budgets, out, baseline_bits, baseline)
    check_budgets(points)
    todo = [p for p in points if not _finished(p)]
    write_sweep_meta(out, base_cfg, points)
    errors = []
    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc="sweep", unit="point", disable=not progress)
    for res in backend(todo, workers):
        bar.update(1)
        if res.error is not None:
            errors.append(f"{res.point.label} ({res.point.method}): {res.error}")
        else:
            bar.set_postfix(acc=f"{res.summary['test_acc']:.3f}", point=res.point.label)
    bar.close()
    df = collect_results([Path(p.run_dir) for p in points if (Path(p.run_dir) / "summary.json").is_file()])
    write_results(df, out)
    if errors:
        raise UserError(f"{len(errors)} of {len(points)} sweep points failed (the others are in "
                        f"{out / RESULTS_CSV}): {'; '.join(errors)}")  # fmt: skip
    return df


def load_results(out_dir: str | Path) -> Any:
    """The results table of a finished sweep (``OUT/results.csv``) as a DataFrame."""
    from .sweep_table import read_results

    return read_results(out_dir)


def with_points(points: Sequence[PointSpec], **changes: Any) -> list[PointSpec]:
    """A copy of ``points`` with config fields replaced (e.g. ``device="cuda"`` for a GPU backend)."""
    return [replace(p, cfg=p.cfg.replace(**changes)) for p in points]
