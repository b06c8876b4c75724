"""Per-layer latency on a bit-serial accelerator, coloured by the binding term (compute, weight load, activation
stream), with each term marked: the table of :func:`cost_models.regimes.regime_table`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from csq_hw.errors import UserError
from csq_hw.plots.save import maybe_save
from csq_hw.plots.style import legend_outside, log_safe, new_axes, use_log_if_spanning

__all__ = ["plot_layer_regimes", "REGIME_COLORS"]

REGIME_COLORS = {"compute": "tab:blue", "weight": "tab:orange", "activation": "tab:green"}
_TERMS = (("compute", "compute + fill", "_", "black"), ("weight", "weight load", "v", "tab:red"),
          ("activation", "activation stream", "^", "tab:purple"))  # fmt: skip


def _column(table: pd.DataFrame, name: str) -> tuple[str, str]:
    """``("compute [cycle]", "cycle")``: the column of term ``name`` and its unit."""
    for col in table.columns:
        if str(col).startswith(f"{name} ["):
            return str(col), str(col)[len(name) + 2 : -1]
    raise UserError(f"table has no {name!r} column; give the table of cost_models.regimes.regime_table")


def plot_layer_regimes(
    table: pd.DataFrame,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    formats: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Bars per layer: the layer's latency, coloured by its regime; markers: compute + fill, weight load and
    activation stream (each in the table's unit). The value axis is logarithmic when the values span a decade or
    more (terms <= 0 are then not drawn). Layers are labelled with their module names, in forward order.

    Args:
        table: :func:`cost_models.regimes.regime_table` output (one row per layer; a ``TOTAL`` row is ignored).
        path: where to save (suffix or PNG + SVG); None: nothing is written.
        ax: the Axes to draw into; default: a new Figure.
        title: axes title.
    Returns:
        the Figure.
    """
    df = table.loc[[i for i in table.index if i != "TOTAL"]]
    total_col, unit = _column(df, "total")
    totals = df[total_col].to_numpy(dtype=float)
    values = {k: df[_column(df, k)[0]].to_numpy(dtype=float) for k in ("compute", "fill", "weight", "activation")}
    terms = {"compute": values["compute"] + values["fill"], "weight": values["weight"],
             "activation": values["activation"]}  # fmt: skip
    xs = np.arange(len(df))
    fig, ax = new_axes(ax, (max(6.0, 0.18 * len(df) + 3.0), 3.8))
    log = use_log_if_spanning(ax, "y", np.concatenate([totals, *terms.values()]))
    colors = [REGIME_COLORS.get(str(r), "tab:gray") for r in df["regime"]]
    ax.bar(xs, log_safe(totals) if log else totals, width=0.8, color=colors, alpha=0.75)
    for key, label, marker, color in _TERMS:
        ys = log_safe(terms[key]) if log else terms[key]
        ax.plot(xs, ys, linestyle="none", marker=marker, color=color, markersize=4, label=label)
    ax.set_xticks(xs, [str(i) for i in df.index], rotation=90, fontsize=6 if len(df) > 20 else 8)
    ax.set_xlim(-0.6, len(df) - 0.4)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"latency [{unit}]")
    ax.grid(True, axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    present = [r for r in REGIME_COLORS if r in set(df["regime"])]
    handles = [Patch(color=REGIME_COLORS[r], alpha=0.75, label=f"{r}-bound ({int((df['regime'] == r).sum())})")
               for r in present]  # fmt: skip
    handles += [Line2D([], [], linestyle="none", marker=m, color=c, label=lab) for _k, lab, m, c in _TERMS]
    legend_outside(ax, handles=handles)
    return maybe_save(fig, path, formats)
