"""Accuracy against cost, one panel per cost model: every run faint, each method's Pareto front as a line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from csq_hw.errors import UserError
from csq_hw.plots.save import maybe_save
from csq_hw.plots.style import legend_outside, log_safe, new_grid, style, use_log_if_spanning
from csq_hw.sweep.pareto import pareto_front

__all__ = ["plot_fronts", "METHOD_STYLE"]

#: method -> (colour, marker, legend label)
METHOD_STYLE = {
    "csq": ("tab:blue", "o", "CSQ"),
    "qat": ("tab:orange", "s", "plain QAT"),
    "uniform": ("tab:green", "^", "uniform (CSQ, search off)"),
}


def _unit(name: str) -> str:
    try:
        from cost_models import get_cost_model

        return get_cost_model(name).unit
    except Exception:  # noqa: BLE001 - a label only
        return ""


def _method_style(method: str, i: int) -> tuple[str, str, str]:
    if method in METHOD_STYLE:
        return METHOD_STYLE[method]
    s = style(len(METHOD_STYLE) + i)
    return s["color"], s["marker"], method


def _part_axis(ax: Axes, name: str, part) -> None:
    """A secondary x axis in percent of ``part``'s capacity for FPGA resource panels (lut, dsp, ff, bram)."""
    from cost_models.fpga_parts import PART_RESOURCES

    base = name.split(":", 1)[0]
    if base not in PART_RESOURCES:
        return
    cap = float(part.capacity(base))
    sec = ax.secondary_xaxis("top", functions=(lambda x: 100.0 * x / cap, lambda p: p * cap / 100.0))
    sec.set_xlabel(f"% of {part.name} ({cap:,.0f})", fontsize=8)


def plot_fronts(
    df: pd.DataFrame,
    cost_models: Sequence[str],
    path: str | Path | None = None,
    *,
    ax: Axes | Sequence[Axes] | None = None,
    acc_col: str = "test_acc",
    formats: Sequence[str] | None = None,
    title: str | None = None,
    part: str | None = None,
) -> Figure:
    """Accuracy [%] against cost, one panel per cost model.

    A cost axis is logarithmic when its positive values span a decade or more (runs at cost 0 are then left out and
    counted in a note); linear axes get compact labels (``120k``). One legend, right of the last panel.

    Args:
        df: a sweep table (:func:`csq_hw.sweep.load_results`) with ``method``, ``acc_col`` and ``cost_<name>``.
        cost_models: names such as ``["bops", "size", "lut"]`` (a column ``cost_<name>`` must exist).
        path: where to save (``out/fronts`` -> PNG and SVG; ``out/fronts.png`` -> PNG); None: nothing is written.
        ax: Axes to draw into, one per cost model (one Axes for one model); default: a new Figure.
        acc_col: the accuracy column (a fraction).
        formats: file formats when ``path`` has no suffix (default PNG and SVG).
        title: figure title (only on a new Figure).
        part: an FPGA part (``xcvu9p``, :func:`cost_models.fpga_parts.fpga_part`): LUT/DSP/FF/BRAM panels get a
            second axis in percent of its capacity.
    Returns:
        the Figure.
    """
    if df.empty:
        raise UserError("the results table has no rows to plot; run the sweep first")
    missing = [c for c in cost_models if f"cost_{c}" not in df.columns]
    if missing or not cost_models:
        have = ", ".join(c[5:] for c in df.columns if c.startswith("cost_") and c != "cost_over_budget")
        raise UserError(f"no cost column for {', '.join(missing) or 'any model'} in the table; choose from: {have}")
    device = None
    if part is not None:
        from cost_models.fpga_parts import fpga_part

        device = fpga_part(part)
    new = ax is None
    fig, axes = new_grid(ax, len(cost_models), panel=(4.4, 3.4))
    handles: dict[str, object] = {}
    for panel, name in zip(axes, cost_models, strict=True):
        col = f"cost_{name}"
        log = use_log_if_spanning(panel, "x", df[col])
        for i, (method, group) in enumerate(df.groupby("method", sort=True)):
            color, marker, label = _method_style(str(method), i)
            xs = log_safe(group[col]) if log else group[col].to_numpy(dtype=float)
            panel.scatter(xs, 100 * group[acc_col], color=color, marker=marker, alpha=0.35, s=22)
            front = pareto_front(group[np.isfinite(xs)], col, acc_col)
            (line,) = panel.plot(front[col], 100 * front[acc_col], color=color, marker=marker, label=label,
                                 drawstyle="steps-post")  # fmt: skip
            handles.setdefault(label, line)
            if method in ("uniform", "qat") and "uniform_bits" in group:
                for x, (_, r) in zip(xs, group.iterrows(), strict=True):
                    if np.isfinite(x) and pd.notna(r["uniform_bits"]):
                        panel.annotate(f"{int(r['uniform_bits'])}b", (x, 100 * r[acc_col]), fontsize=7,
                                       textcoords="offset points", xytext=(3, -9), color=color)  # fmt: skip
        dropped = int((df[col] <= 0).sum()) if log else 0
        if dropped:
            panel.text(0.02, 0.02, f"{dropped} run(s) at 0 not drawn (log axis)", transform=panel.transAxes,
                       fontsize=7, color="0.4")  # fmt: skip
        unit = _unit(name)
        panel.set_xlabel(f"{name} [{unit}]" if unit else name)
        panel.set_ylabel(f"{acc_col.replace('_', ' ')} [%]")
        panel.grid(True, alpha=0.3, which="both")
        if device is not None:
            _part_axis(panel, name, device)
    legend_outside(axes[-1], handles=list(handles.values()))
    if title and new:
        fig.suptitle(title)
    return maybe_save(fig, path, formats)
