"""The suite's results: one row per run from its run directory, the per task x budget summary, table and figure.

Scores are in points (%) for every task: classification -> exact-model test accuracy (``summary.json``
``test_acc`` x 100); mse tasks -> R^2 = 100 * (1 - test MSE / Var(y_test)), Var per output averaged over outputs,
from the cached npz. ``best_soft``: the best search-phase epoch of ``metrics.csv`` (highest ``test_acc``, or lowest
``test_loss`` as R^2); ``best_soft_in_budget``: the same over the search epochs whose hard cost met every budget.
Files: ``OUT/suite_results.csv``, ``OUT/suite_summary.csv``, ``OUT/suite_table.md`` (the table and the issue's
criteria, :func:`criteria`), ``OUT/suite_delta.png``.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@functools.cache
def _target_stats(npz: Path) -> tuple[float, int]:
    """(Var(y_test) averaged over outputs, number of classes or outputs) of a cached data set."""
    with np.load(npz) as z:
        y = z["y_test"]
        if y.dtype.kind in "iu":
            return math.nan, int(max(z["y_train"].max(), y.max())) + 1
        return float(np.var(y.reshape(len(y), -1), axis=0).mean()), int(np.prod(y.shape[1:]))


def _r2(mse: float, var: float) -> float:
    return 100.0 * (1.0 - mse / var) if mse is not None and np.isfinite(mse) else math.nan


def collect_run(run: Any, logs: Path) -> dict[str, Any]:
    """One result row of a finished run (a :class:`run_suite.Run` whose ``summary.json`` exists)."""
    s = json.loads((run.out / "summary.json").read_text())
    var, n_out = _target_stats(run.npz)
    mse_task = run.task.loss == "mse"
    metrics = pd.read_csv(run.out / "metrics.csv") if (run.out / "metrics.csv").is_file() else pd.DataFrame()
    search = metrics[metrics["phase"] == "search"] if "phase" in metrics else metrics.iloc[:0]
    # the soft search model at a hard cost within the budget (early epochs of a warm-started search run near the
    # float model, every bit on: no exact model at the budget can be held to them)
    fits = search[search["max_cost_over_budget"] <= 1.0] if "max_cost_over_budget" in search else search.iloc[:0]
    if mse_task:
        score = _r2(s.get("test_loss"), var)
        best = lambda frame: _r2(frame["test_loss"].min(), var) if "test_loss" in frame and len(frame) else math.nan  # noqa: E731
    else:
        score = 100.0 * s["test_acc"] if s.get("test_acc") is not None else math.nan
        best = lambda frame: 100.0 * frame["test_acc"].max() if "test_acc" in frame and len(frame) else math.nan  # noqa: E731
    best_soft, best_soft_in_budget = best(search), best(fits)
    budget = s.get("budget") or {}
    wall_file = logs / f"{run.tag}.wall"
    wall = float(wall_file.read_text()) if wall_file.is_file() else math.nan
    final_cost, budget_value = s.get("final_cost"), budget.get("value")
    return {
        "task": run.task.name,
        "kind": run.task.kind,
        "loss": run.task.loss,
        "budget": run.budget,
        "seed": run.seed,
        "method": run.method,
        "score": score,
        "metric": "R2 %" if mse_task else "acc %",
        "best_soft": best_soft,
        "exact_minus_soft": score - best_soft,
        "best_soft_in_budget": best_soft_in_budget,
        "exact_minus_soft_in_budget": score - best_soft_in_budget,
        "test_acc": s.get("test_acc"),
        "test_loss": s.get("test_loss"),
        "soft_test_acc": s.get("soft_test_acc"),
        "final_cost": final_cost,
        "budget_value": budget_value,
        "cost_over_budget": final_cost / budget_value if final_cost is not None and budget_value else math.nan,
        "wall_s": wall,
        "train_s": s.get("train_seconds"),
        "chance": 0.0 if mse_task else 100.0 / n_out,
        "n_out": n_out,
        "warnings": " | ".join(map(str, s.get("warnings") or [])),
        "model": run.task.model,
        "run_dir": str(run.out),
    }


def summarize(results: pd.DataFrame, floats: dict[str, float]) -> pd.DataFrame:
    """Per task x budget: CSQ mean/min/std, QAT mean, CSQ - QAT (mean and per-seed range), cost/budget range."""
    rows = []
    for (task, budget), g in results.groupby(["task", "budget"], sort=False):
        csq, qat = g[g["method"] == "csq"].set_index("seed"), g[g["method"] == "qat"].set_index("seed")
        paired = (csq["score"] - qat["score"]).dropna()
        rows.append({
            "task": task,
            "budget": budget,
            "metric": g["metric"].iloc[0],
            "chance": g["chance"].iloc[0],
            "float": floats.get(task, math.nan),
            "n_seeds": len(csq),
            "csq_mean": csq["score"].mean(),
            "csq_min": csq["score"].min(),
            "csq_std": csq["score"].std(ddof=0),
            "qat_mean": qat["score"].mean(),
            "delta": csq["score"].mean() - qat["score"].mean(),
            "delta_min": paired.min() if len(paired) else math.nan,
            "delta_max": paired.max() if len(paired) else math.nan,
            "csq_exact_minus_soft": csq["exact_minus_soft"].mean(),
            "csq_exact_minus_soft_in_budget": csq["exact_minus_soft_in_budget"].mean(),
            "csq_cost_ratio_min": csq["cost_over_budget"].min(),
            "csq_cost_ratio_max": csq["cost_over_budget"].max(),
            "csq_wall_s": csq["wall_s"].mean(),
            "qat_wall_s": qat["wall_s"].mean(),
            "warnings": int((g["warnings"].fillna("") != "").sum()),
        })  # fmt: skip
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame) -> str:
    """The summary as a markdown table (points; cost/budget as a min-max range)."""
    head = ["task", "budget", "metric", "chance", "float", "CSQ mean", "CSQ min", "QAT mean", "CSQ-QAT",
            "CSQ-QAT seeds", "exact-soft", "exact-soft (in budget)", "cost/budget", "s/run CSQ", "warn"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def f(v: float, nd: int = 1) -> str:
        return "" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"

    for r in summary.itertuples():
        cells = [r.task, r.budget, r.metric, f(r.chance), f(r.float), f(r.csq_mean), f(r.csq_min), f(r.qat_mean),
                 f"{r.delta:+.1f}" if np.isfinite(r.delta) else "", f"{f(r.delta_min)}..{f(r.delta_max)}",
                 f(r.csq_exact_minus_soft), f(r.csq_exact_minus_soft_in_budget),
                 f"{f(r.csq_cost_ratio_min, 3)}-{f(r.csq_cost_ratio_max, 3)}",
                 f(r.csq_wall_s, 0), str(r.warnings)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def criteria(results: pd.DataFrame) -> str:
    """The issue's targets, read on the runs: lines of ``criterion: measured -> met / missed``."""
    csq, qat = results[results["method"] == "csq"], results[results["method"] == "qat"]
    if not len(csq) or not len(qat):
        return ""
    lines = []
    near_chance = csq[(csq["score"] < csq["chance"] + 10) & (csq["chance"] > 0)]
    lines.append(f"- CSQ runs within 10 points of chance: {len(near_chance)} of {len(csq)}")
    per_task = csq.groupby("task", sort=False)["score"].mean() - qat.groupby("task", sort=False)["score"].mean()
    worst = per_task.idxmin()
    lines.append(f"- CSQ - QAT per task (mean over budgets and seeds): worst {worst} {per_task[worst]:+.2f}, "
                 f"mean over tasks {per_task.mean():+.2f}; tasks at or above QAT - 0.5: "
                 f"{int((per_task >= -0.5).sum())} of {len(per_task)}")  # fmt: skip
    for col, what in (("exact_minus_soft", "best soft"), ("exact_minus_soft_in_budget", "best soft within budget")):
        d = csq[col].dropna()
        lines.append(f"- exact within 0.5 points of the {what}: {int((d >= -0.5).sum())} of {len(d)} runs "
                     f"({100 * (d >= -0.5).mean():.0f} %)")  # fmt: skip
    ratio = csq["cost_over_budget"]
    lines.append(f"- cost/budget in [0.95, 1.00]: {int(ratio.between(0.95, 1.0).sum())} of {len(ratio)} "
                 f"(min {ratio.min():.3f}, max {ratio.max():.3f})")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_delta(results: pd.DataFrame, path: Path) -> None:
    """Bar chart of CSQ - QAT (points) per task and budget: mean bar, per-seed points, min-max whisker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    piv = results.pivot_table(index=["task", "budget", "seed"], columns="method", values="score", sort=False)
    piv = piv.reset_index()
    if not {"csq", "qat"} <= set(piv.columns):
        return
    piv["delta"] = piv["csq"] - piv["qat"]
    groups = list(piv.groupby(["task", "budget"], sort=False))
    budgets = sorted(piv["budget"].unique())
    colors = {b: f"C{i}" for i, b in enumerate(budgets)}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(groups) + 2), 4.2))
    for i, ((_, budget), g) in enumerate(groups):
        d = g["delta"].dropna()
        if not len(d):
            continue
        ax.bar(i, d.mean(), color=colors[budget], alpha=0.6, label=budget)
        ax.errorbar(i, d.mean(), yerr=[[d.mean() - d.min()], [d.max() - d.mean()]], color="k", capsize=3)
        ax.scatter(np.full(len(d), i), d, color="k", s=10, zorder=3)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(groups)), [f"{t}\n{b}" for (t, b), _ in groups], rotation=60, fontsize=7)
    ax.set_ylabel("CSQ - QAT (points: acc % or R$^2$ %)")
    ax.set_title("default CSQ vs plain QAT at equal BOPs\n(bar: seed mean, dots: seeds, whisker: range)", fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(uniq.values(), uniq.keys(), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(runs: list[Any], out: Path, logs: Path, floats: dict[str, float]) -> pd.DataFrame:
    """Write the results CSV, the summary CSV, the markdown table (also printed) and the figure; return the summary."""
    if not runs:
        print("no finished runs")
        return pd.DataFrame()
    results = pd.DataFrame([collect_run(r, logs) for r in runs])
    results.to_csv(out / "suite_results.csv", index=False)
    summary = summarize(results, floats)
    summary.to_csv(out / "suite_summary.csv", index=False)
    table = markdown(summary) + "\n" + criteria(results)
    (out / "suite_table.md").write_text(table)
    print(table)
    plot_delta(results, out / "suite_delta.png")
    print(f"wrote {out / 'suite_results.csv'}, suite_summary.csv, suite_table.md, suite_delta.png")
    return summary
