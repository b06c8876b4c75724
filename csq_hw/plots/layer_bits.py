"""Per-layer widths of one run: selected weight bits, the weight span, input-activation bits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from csq_hw.plots.run_data import PrecisionSource, layer_label, run_precisions
from csq_hw.plots.save import maybe_save
from csq_hw.plots.style import integer_ticks, legend_outside, new_axes

__all__ = ["plot_layer_bits"]


def plot_layer_bits(
    run: PrecisionSource,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    formats: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Bars per layer: weight bits (selected bit positions, sign not counted), the weight span (highest minus
    lowest selected position plus one; outline) and input bits (sign included when signed). Integer bit ticks;
    layers labelled with the run's module names (:func:`csq_hw.plots.run_data.layer_label`).

    Args:
        run: a finished run directory (checked as the sweep table reads it; its summary gives the title), its
            ``precisions.json``, the dict or :class:`~csq_hw.handoff.precision_types.Precisions`.
        path: where to save (``layer_bits.png``, ``.svg``, ``.pdf``; no suffix: PNG and SVG); None: nothing written.
        ax: the Axes to draw into; default: a new Figure.
        title: axes title; default for a run directory: method, budget and test accuracy.
    Returns:
        the Figure.
    """
    if title is None and isinstance(run, (str, Path)) and Path(run).is_dir():
        from csq_hw.sweep.table import read_run

        row = read_run(run)  # validates the run directory (one-line errors for other versions)
        title = f"{row['method']} {row['budget_spec']}: test acc {100 * row['test_acc']:.1f} %"
    layers = run_precisions(run).layers
    xs = list(range(len(layers)))
    fig, ax = new_axes(ax, (max(4.5, 0.8 * len(layers) + 2.5), 3.2))
    ax.bar([x - 0.2 for x in xs], [la.weight.span_bits for la in layers], width=0.4, fill=False,
           edgecolor="tab:blue", linestyle="--", label="weight span")  # fmt: skip
    ax.bar([x - 0.2 for x in xs], [la.weight.bits for la in layers], width=0.4, color="tab:blue", label="weight bits")
    ax.bar([x + 0.2 for x in xs], [la.input.bits for la in layers], width=0.4, color="tab:green", label="input bits")
    ax.set_xticks(xs, [layer_label(la) for la in layers], rotation=45 if len(layers) > 8 else 0, fontsize=8)
    ax.set_xlabel("layer")
    ax.set_ylabel("bits")
    integer_ticks(ax, "y")
    ax.grid(True, axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    legend_outside(ax)
    return maybe_save(fig, path, formats)
