"""Matplotlib figures for sweeps (Agg backend; imported only here, never by ``import csq_hw``).

* :func:`plot_fronts`: test accuracy against cost, one panel per cost model, every point faint and each method's
  Pareto front as a line (CSQ and the uniform baseline labelled with their widths); saved as PNG and SVG.
* :func:`plot_layer_bits`: weight bits and input-activation bits per layer of one run directory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure  # figures without pyplot: no global backend switch, inline plots keep working

from .errors import UserError
from .pareto import pareto_front

__all__ = ["plot_fronts", "plot_layer_bits", "FORMATS"]

FORMATS = ("png", "svg")
_STYLE = {"csq": ("tab:blue", "o", "CSQ"), "uniform": ("tab:orange", "s", "uniform QAT")}


def _unit(name: str) -> str:
    try:
        from cost_models import get_cost_model

        return get_cost_model(name).unit
    except Exception:  # noqa: BLE001 - a label only
        return ""


def _save(fig, path: str | Path, formats: Sequence[str]) -> list[Path]:
    from .atomic_io import atomic_write

    base = Path(path)
    if base.suffix.lstrip(".") in FORMATS:
        base = base.with_suffix("")
    out = []
    for fmt in formats:
        target = base.with_name(f"{base.name}.{fmt}")
        atomic_write(target, lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=150, bbox_inches="tight"))
        out.append(target)
    return out


def plot_fronts(
    df: pd.DataFrame,
    cost_models: Sequence[str],
    path: str | Path,
    acc_col: str = "test_acc",
    formats: Sequence[str] = FORMATS,
    title: str | None = None,
) -> list[Path]:
    """Accuracy (percent) against cost, one panel per cost model, log-scaled cost axis.

    Args:
        df: a sweep table (:func:`csq_hw.sweep.load_results`) with ``method``, ``acc_col`` and ``cost_<name>``.
        cost_models: names such as ``["bops", "size", "lut"]`` (a column ``cost_<name>`` must exist).
        path: output path without suffix (or with ``.png``/``.svg``); one file per format is written.
    Returns:
        the written files, e.g. ``[fronts.png, fronts.svg]``.
    """
    if df.empty:
        raise UserError("the results table has no rows to plot; run the sweep first")
    missing = [c for c in cost_models if f"cost_{c}" not in df.columns]
    if missing or not cost_models:
        have = ", ".join(c[5:] for c in df.columns if c.startswith("cost_") and c != "cost_over_budget")
        raise UserError(f"no cost column for {', '.join(missing) or 'any model'} in the table; choose from: {have}")
    n = len(cost_models)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.6 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, name in zip(axes.flat, cost_models, strict=False):
        col = f"cost_{name}"
        for method, group in df.groupby("method", sort=True):
            color, marker, label = _STYLE.get(str(method), ("tab:gray", "^", str(method)))
            ax.scatter(group[col], 100 * group[acc_col], color=color, marker=marker, alpha=0.35, s=22)
            front = pareto_front(group, col, acc_col)
            ax.plot(front[col], 100 * front[acc_col], color=color, marker=marker, label=label, drawstyle="steps-post")
            if method == "uniform" and "uniform_bits" in group:
                for _, r in group.iterrows():
                    if pd.notna(r["uniform_bits"]):
                        ax.annotate(f"{int(r['uniform_bits'])}b", (r[col], 100 * r[acc_col]), fontsize=7,
                                    textcoords="offset points", xytext=(3, -9), color=color)  # fmt: skip
        positive = df[col][df[col] > 0]
        if len(positive) and positive.max() / positive.min() > 20:
            ax.set_xscale("log")
        unit = _unit(name)
        ax.set_xlabel(f"{name} [{unit}]" if unit else name)
        ax.set_ylabel(f"{acc_col.replace('_', ' ')} [%]")
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path, formats)


def plot_layer_bits(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Bar plot of weight bits and input-activation bits per layer of a run (``summary.json``).

    Args:
        run_dir: a finished run directory.
        path: output file (suffix ``.png`` or ``.svg``; default ``RUN_DIR/layer_bits.png``).
    Returns:
        the written file.
    """
    from .sweep_table import read_run

    run_dir = Path(run_dir)
    row = read_run(run_dir)  # validates the run directory
    layers = json.loads(row["layer_bits"])
    names = list(layers)
    xs = range(len(names))
    fig = Figure(figsize=(max(4.0, 0.6 * len(names) + 2), 3.2))
    ax = fig.subplots()
    ax.bar([x - 0.2 for x in xs], [layers[n]["w"] for n in names], width=0.4, label="weight bits", color="tab:blue")
    ax.bar([x + 0.2 for x in xs], [layers[n]["a"] for n in names], width=0.4, label="input bits", color="tab:green")
    ax.set_xticks(list(xs), names, rotation=45 if len(names) > 8 else 0)
    ax.set_xlabel("layer")
    ax.set_ylabel("bits")
    ax.set_title(f"{row['method']} {row['budget_spec']}: test acc {100 * row['test_acc']:.1f} %", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    target = Path(path) if path is not None else run_dir / "layer_bits.png"
    fmt = target.suffix.lstrip(".") or "png"
    if fmt not in FORMATS:
        raise UserError(f"plot file {target}: use a .png or .svg suffix")
    return _save(fig, target, [fmt])[0]
