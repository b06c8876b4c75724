"""Budget sweeps: many CSQ runs (and the uniform-precision baseline) for one model, data set and cost model.

Example::

    from csq_hw import TrainConfig
    from csq_hw.sweep import budget_list, run_sweep
    base = TrainConfig.from_flat(model="mnist1d-cnn", dataset="mnist1d", act_bits="search", epochs=40)
    df = run_sweep(base, budget_list("bops", budget_range="1e5:8e5:5"), "runs/sweep", workers=2,
                   baseline_bits=[2, 3, 4, 5, 6, 8])

Every point is one run directory under ``OUT/runs/`` (``csq_hw.train.train_run.train_run`` output, exportable with
``csq-hw export``); the table ``OUT/results.csv`` (and ``results.parquet`` where pyarrow is installed) has one row
per point (columns in :mod:`csq_hw.sweep.table`). A point whose run directory already holds ``summary.json`` is
skipped, so running the same sweep again resumes it; a point with only ``checkpoint.pt`` continues from it.

Execution backends are pluggable (:mod:`csq_hw.sweep.backends`); :func:`csq_hw.sweep.points.run_point` is a pure
function of ``(TrainConfig, out_dir)``, so a backend only has to ship it to its workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from csq_hw.errors import UserError
from csq_hw.sweep.backends import BACKENDS, Backend
from csq_hw.sweep.points import PointSpec, check_budgets, make_points
from csq_hw.train.config import TrainConfig, load_config

__all__ = ["run_sweep", "load_results", "RESULTS_CSV"]

RESULTS_CSV = "results.csv"  # also csq_hw.sweep.table.RESULTS_CSV


def _finished(point: PointSpec) -> bool:
    """True when the point's run directory holds a finished run made with the same config."""
    run_dir = Path(point.run_dir)
    if not (run_dir / "summary.json").is_file():
        return False
    if not (run_dir / "config.toml").is_file():
        raise UserError(f"{run_dir} has summary.json but no config.toml; delete it and run the sweep again")
    saved = load_config(run_dir / "config.toml")
    now, was = point.cfg.to_flat(), saved.to_flat()
    diff = sorted(k for k in now if k != "device" and was[k] != now[k])
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
    log_format: str = "bar",
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
        progress: report on stderr, per finished point: a tqdm bar (``log_format="bar"``) or one plain line
            (``"plain"``, for batch logs; :mod:`csq_hw.runtime.progress`).

    Raises:
        UserError: empty or infeasible budgets, unknown backend, a run dir with other settings, or failed points
            (after the table of the finished ones is written).
    """
    from csq_hw.runtime.progress import LoopProgress
    from csq_hw.sweep.table import collect_results, write_results, write_sweep_meta

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
    report = LoopProgress(len(points), len(points) - len(todo), desc="sweep", unit="point", log_format=log_format,
                          enabled=progress)  # fmt: skip
    for res in backend(todo, workers):
        if res.error is not None:
            errors.append(f"{res.point.label} ({res.point.method}): {res.error}")
        acc = None if res.error is not None else res.summary.get("test_acc")
        fields = {"point": res.point.label, "method": res.point.method,
                  **({"failed": "see the error at the end"} if res.error is not None else {}),
                  **({"acc": f"{100 * acc:.2f}%"} if acc is not None else {})}  # fmt: skip
        report.update(fields)
    report.close()
    df = collect_results([Path(p.run_dir) for p in points if (Path(p.run_dir) / "summary.json").is_file()])
    write_results(df, out)
    if errors:
        raise UserError(f"{len(errors)} of {len(points)} sweep points failed (the others are in "
                        f"{out / RESULTS_CSV}): {'; '.join(errors)}")  # fmt: skip
    return df


def load_results(out_dir: str | Path) -> Any:
    """The results table of a finished sweep (``OUT/results.csv``) as a DataFrame."""
    from csq_hw.sweep.table import read_results

    return read_results(out_dir)
