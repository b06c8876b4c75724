"""Per-layer FPGA resources (LUT, DSP, FF, BRAM36 from the ``cost_models`` estimates), as counts or as a share of a
named FPGA part."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from csq_hw.plots.run_data import CostSource, resource_frame
from csq_hw.plots.save import maybe_save
from csq_hw.plots.style import legend_outside, new_axes, style, use_log_if_spanning

__all__ = ["plot_layer_resources", "RESOURCE_LABELS"]

RESOURCE_LABELS = {"lut": "LUT", "dsp": "DSP", "ff": "FF", "bram": "BRAM36"}


def plot_layer_resources(
    costs: CostSource,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    resources: Sequence[str] | None = None,
    part: str | None = None,
    formats: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Grouped bars: per layer, one bar per resource; counts, or percent of ``part``'s capacity of that resource.

    The value axis is logarithmic when the nonzero values span a decade or more; a zero (e.g. no DSP below the
    DSP threshold) then has no bar and is marked ``0`` at the bottom instead.

    Args:
        costs: a run directory (priced with its exact weights, :func:`csq_hw.plots.run_data.run_layer_costs`), a
            per-layer table (index layers, columns ``lut``/``dsp``/``ff``/``bram``, or ``cost_table`` output with
            ``"lut [LUT]"`` columns; a ``TOTAL`` row is ignored) or ``{layer: {resource: value}}``.
        path: where to save (suffix or PNG + SVG); None: nothing is written.
        ax: the Axes to draw into; default: a new Figure.
        resources: which columns (default: those of ``lut, dsp, ff, bram`` present).
        part: an FPGA part name (:func:`cost_models.fpga_parts.fpga_part`): plot percent of its capacity.
        title: axes title.
    Returns:
        the Figure.
    """
    df, labels = resource_frame(costs, resources)
    device = None
    if part is not None:
        from cost_models.fpga_parts import fpga_part

        device = fpga_part(part)
        df = df.apply(lambda col: 100.0 * col / device.capacity(col.name))
    n_layers, n_res = df.shape
    fig, ax = new_axes(ax, (max(5.0, 0.5 * n_layers * n_res + 3.0), 3.4))
    log = use_log_if_spanning(ax, "y", df.to_numpy().ravel())
    width = 0.8 / n_res
    xs = np.arange(n_layers)
    handles = []
    for j, name in enumerate(df.columns):
        values = df[name].to_numpy(dtype=float)
        at = xs - 0.4 + width * (j + 0.5)
        shown = values > 0 if log else np.ones_like(values, dtype=bool)
        label = RESOURCE_LABELS.get(str(name), str(name))
        ax.bar(at[shown], values[shown], width=width, color=style(j)["color"])
        handles.append(Patch(color=style(j)["color"], label=label))  # also for a resource with no bar drawn
        for x in at[~shown]:
            ax.text(x, 0.01, "0", transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7,
                    color=style(j)["color"])  # fmt: skip
    ax.set_xticks(xs, labels, rotation=45 if n_layers > 8 else 0, fontsize=8)
    ax.set_xlabel("layer")
    if device is not None:
        ax.set_ylabel(f"% of {device.name}")
        if not log:
            ax.yaxis.set_major_formatter(ticker.PercentFormatter(decimals=None))
    else:
        ax.set_ylabel("count (estimate)")
    ax.grid(True, axis="y", alpha=0.3, which="both")
    if title:
        ax.set_title(title, fontsize=9)
    legend_outside(ax, handles=handles)
    return maybe_save(fig, path, formats)
