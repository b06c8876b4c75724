"""Several cost models' totals against one swept quantity (e.g. uniform bits), one distinct line per model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from csq_hw.plots.save import maybe_save
from csq_hw.plots.style import integer_ticks, legend_outside, log_safe, new_axes, spans_decades, style

__all__ = ["plot_cost_curves"]


def _where_bad(index: pd.Index, bad: np.ndarray) -> str:
    """``"2–8"`` for a run of consecutive index entries, else ``"2, 5"``."""
    at = np.flatnonzero(bad)
    if len(at) > 2 and at[-1] - at[0] == len(at) - 1:
        return f"{index[at[0]]}–{index[at[-1]]}"
    return ", ".join(str(index[j]) for j in at)


def plot_cost_curves(
    table: pd.DataFrame,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    log: bool | None = None,
    xlabel: str | None = None,
    ylabel: str = "cost",
    formats: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """One line per column of ``table`` against its index (e.g. ``index = bits``, columns = cost models).

    Each line has its own colour/marker/line-style combination (no two of the first 40 alike). On a log axis
    (``log=True``, or ``None`` and the positive values span a decade or more) values <= 0 are not drawn, the line
    breaks there, and the legend says where (``dsp (<= 0 at 2–8, not drawn)``); they never reach minus infinity.
    Integer x ticks when the index is integer.

    Args:
        table: rows = x values, columns = series (floats).
        path: where to save (suffix or PNG + SVG); None: nothing is written.
        ax: the Axes to draw into; default: a new Figure.
        log: force a log (True) or linear (False) y axis.
    Returns:
        the Figure.
    """
    values = table.to_numpy(dtype=float)
    if log is None:
        log = spans_decades(values.ravel())
    fig, ax = new_axes(ax, (7.5, 4.2))
    if log:
        ax.set_yscale("log")
    for i, name in enumerate(table.columns):
        ys = table[name].to_numpy(dtype=float)
        label = str(name)
        if log:
            bad = ~(np.isfinite(ys) & (ys > 0))
            if bad.any():
                label += f" (<= 0 at {_where_bad(table.index, bad)}, not drawn)"
            ys = log_safe(ys)
        ax.plot(table.index, ys, label=label, markersize=4, **style(i))
    if pd.api.types.is_integer_dtype(table.index):
        integer_ticks(ax, "x")
    ax.set_xlabel(xlabel if xlabel is not None else str(table.index.name or ""))
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, which="both")
    if title:
        ax.set_title(title, fontsize=9)
    legend_outside(ax)
    return maybe_save(fig, path, formats)
