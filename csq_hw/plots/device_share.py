"""A model's total FPGA resources as a share of a named part (a utilisation chart, as a synthesis report gives)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from csq_hw.plots.resources import RESOURCE_LABELS
from csq_hw.plots.run_data import CostSource, resource_frame
from csq_hw.plots.save import maybe_save
from csq_hw.plots.style import new_axes, style, use_log_if_spanning

__all__ = ["device_totals", "plot_device_share"]

_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 1.0, "alpha": 0.8}  # readable over the 100 % line


def device_totals(costs: CostSource | Mapping[str, float], resources: Sequence[str] | None = None) -> dict[str, float]:
    """``{resource: total}``: ``costs`` summed over layers, or already ``{resource: total}``."""
    if isinstance(costs, Mapping) and all(isinstance(v, Real) for v in costs.values()):
        names = list(resources) if resources is not None else list(costs)
        return {n: float(costs[n]) for n in names}
    df, _ = resource_frame(costs, resources)
    return {str(c): float(df[c].sum()) for c in df.columns}


def plot_device_share(
    costs: CostSource | Mapping[str, float],
    part: str,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    resources: Sequence[str] | None = None,
    formats: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """One horizontal bar per resource: the model's total as percent of ``part``'s capacity
    (``100 * total / capacity``), each labelled ``1.23 % (14.5k of 1.18M)``.

    The axis is logarithmic when the nonzero shares span a decade or more (a zero then has no bar, its label says
    ``0``); a dashed line marks 100 % once any share passes half the device.

    Args:
        costs: a run directory, a per-layer table, ``{layer: {resource: value}}`` (summed over layers; see
            :func:`csq_hw.plots.resources.plot_layer_resources`) or ``{resource: total}``.
        part: an FPGA part (``xcvu9p``, ``xczu9eg``, ``u250``, ...; :func:`cost_models.fpga_parts.fpga_part`).
        path: where to save (suffix or PNG + SVG); None: nothing is written.
        ax: the Axes to draw into; default: a new Figure.
        resources: which resources (default: those of ``lut, dsp, ff, bram`` present).
        title: axes title (default: the part, its family and the data sheet).
    Returns:
        the Figure (``ax.patches`` are the bars in resource order, widths in percent; a resource at 0 on a log
        axis has none).
    """
    from cost_models.fpga_parts import fpga_part

    device = fpga_part(part)
    totals = device_totals(costs, resources)
    share = {k: 100.0 * v for k, v in device.share(totals).items()}
    names = list(share)
    values = np.array([share[n] for n in names], dtype=float)
    fig, ax = new_axes(ax, (6.0, 0.45 * len(names) + 1.6))
    log = use_log_if_spanning(ax, "x", values)
    ys = np.arange(len(names))
    shown = values > 0 if log else np.ones_like(values, dtype=bool)
    ax.barh(ys[shown], values[shown], color=[style(i)["color"] for i in np.flatnonzero(shown)], height=0.6)
    top = float(values.max()) if len(values) else 0.0
    full = top >= 50.0
    if full:
        ax.axvline(100.0, color="k", linestyle="--", linewidth=0.8)
    right = max(top, 100.0) if full else top
    if log:  # room for the labels right of the longest bar
        ax.set_xlim(float(values[values > 0].min()) / 3.0, right * 30.0)
    else:
        ax.set_xlim(0.0, right * 1.6 or 1.0)
    for y, n, v in zip(ys, names, values, strict=True):
        cap = device.capacity(n)
        if v > 0:
            ax.annotate(f"{v:.3g} % ({totals[n]:,.0f} of {cap:,})", (v, y), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=8, bbox=_LABEL_BOX)  # fmt: skip
        else:
            ax.text(0.01, y, f"0 (of {cap:,})", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.set_yticks(ys, [RESOURCE_LABELS.get(n, n) for n in names])
    ax.set_ylim(len(names) - 0.5, -0.5)  # first resource on top, every row in view (also those without a bar)
    ax.set_xlabel(f"% of {device.name}")
    ax.grid(True, axis="x", alpha=0.3, which="both")
    ax.set_title(title or f"{device.name} ({device.family}; {device.source.split(',')[0]})", fontsize=8)
    return maybe_save(fig, path, formats)
