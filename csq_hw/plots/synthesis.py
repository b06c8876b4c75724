"""Estimates against a synthesis report: one point per row of the comparison table, the diagonal where they agree.

Data flow: ``estimate_vs_synthesis.csv`` / the DataFrame of ``hls.synth_compare.estimate_vs_synthesis`` (columns
``layer, resource, model, stage, estimate, estimate_unit, synthesis, synthesis_unit, ratio``; csq_hw does not
import ``hls``, so the table is all this takes) -> a scatter of estimate (y) against synthesis (x). Units are the
table's: LUT, FF, DSP, BRAM36 counts; latency in the synthesis report's cycles against the estimate's unit (da4ml:
adder levels), so a latency point off the diagonal is a change of unit as much as an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from csq_hw.plots.resources import RESOURCE_LABELS
from csq_hw.plots.save import maybe_save
from csq_hw.plots.style import legend_outside, new_axes, style, use_log_if_spanning

__all__ = ["plot_estimate_vs_synthesis"]

_NEEDED = ("layer", "resource", "model", "stage", "estimate", "synthesis")


def plot_estimate_vs_synthesis(
    table: pd.DataFrame,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    formats: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Scatter: synthesis (x) against estimate (y), one point per row, one series per (resource, cost model, stage).

    Colour = resource, marker = cost model; filled markers are the HLS report, hollow ones logic synthesis
    (``stage`` ``post-synthesis``); each point is labelled with its layer (``total`` for the design). The dashed
    diagonal is estimate = synthesis. Both axes are logarithmic when the positive values span a decade or more; a
    row with a value <= 0 is then not drawn and its legend entry says how many were left out.

    Args:
        table: the comparison table (``hls.synth_compare.estimate_vs_synthesis``, or its CSV read back).
        path: where to save (suffix or PNG + SVG); None: nothing is written.
        ax: the Axes to draw into; default: a new Figure.
        title: axes title.
    Returns:
        the Figure.
    """
    missing = [c for c in _NEEDED if c not in table.columns]
    if missing:
        from csq_hw.errors import UserError

        raise UserError(f"estimate-vs-synthesis table lacks column(s) {', '.join(missing)}; pass the table of "
                        "hls.synth_compare.estimate_vs_synthesis or its CSV")  # fmt: skip
    fig, ax = new_axes(ax, (7.5, 4.6))
    df = table.reset_index(drop=True)
    x = df["synthesis"].to_numpy(dtype=float)
    y = df["estimate"].to_numpy(dtype=float)
    values = np.concatenate([x, y])
    log = use_log_if_spanning(ax, "x", values)
    use_log_if_spanning(ax, "y", values)
    shown = np.isfinite(x) & np.isfinite(y) & ((x > 0) & (y > 0) if log else True)
    colour = {r: style(i)["color"] for i, r in enumerate(dict.fromkeys(df["resource"]))}
    marker = {m: style(i)["marker"] for i, m in enumerate(dict.fromkeys(df["model"]))}
    for (resource, model, stage), group in df.groupby(["resource", "model", "stage"], sort=False):
        at = group.index.to_numpy()
        ok = at[shown[at]]
        label = f"{RESOURCE_LABELS.get(str(resource), str(resource))} · {model}"
        if stage != "hls":
            label += f" ({stage})"
        if len(ok) < len(at):
            label += f" ({len(at) - len(ok)} <= 0, not drawn)"
        c = colour[resource]
        ax.scatter(x[ok], y[ok], marker=marker[model], s=30, edgecolors=c, linewidths=1.2,
                   facecolors=c if stage == "hls" else "none", label=label, zorder=3)  # fmt: skip
        for j in ok:
            name = "total" if df["layer"][j] == "TOTAL" else str(df["layer"][j])
            ax.annotate(name, (x[j], y[j]), xytext=(3, 3), textcoords="offset points", fontsize=6, color="0.3")
    if shown.any():
        lo, hi = float(min(x[shown].min(), y[shown].min())), float(max(x[shown].max(), y[shown].max()))
        ax.plot([lo, hi], [lo, hi], color="0.5", linestyle="--", linewidth=0.8, label="estimate = synthesis")
    else:
        ax.text(0.5, 0.5, "no row to draw", transform=ax.transAxes, ha="center", va="center", fontsize=9)
    ax.set_xlabel("synthesis report (its unit)")
    ax.set_ylabel("estimate (its cost model's unit)")
    ax.grid(True, alpha=0.3, which="both")
    if title:
        ax.set_title(title, fontsize=9)
    legend_outside(ax)
    return maybe_save(fig, path, formats)
