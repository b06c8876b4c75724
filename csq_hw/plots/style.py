"""Shared conventions of the plot functions: new figures without pyplot, log axes for data that span decades,
legends outside the data, integer bit ticks, distinct colours, nonpositive values masked on log axes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["LOG_SPAN", "root_figure", "new_axes", "new_grid", "use_log_if_spanning", "spans_decades", "legend_outside",
           "integer_ticks", "log_safe", "style", "count_formatter"]  # fmt: skip

#: a value axis goes logarithmic when its positive values span at least this ratio (max / min): one decade
LOG_SPAN = 10.0
_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
           "tab:olive", "tab:cyan")  # fmt: skip
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
_LINES = ("-", "--", ":", "-.")


def root_figure(ax: Axes) -> Figure:
    """The top-level Figure that ``ax`` is drawn in (not a SubFigure): the one to save."""
    try:
        return ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10: .figure is the root
        return ax.figure


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``(ax.figure, ax)``, or a new :class:`~matplotlib.figure.Figure` (constrained layout, no pyplot) and its
    single Axes when ``ax`` is None. ``figsize`` in inches."""
    if ax is not None:
        return root_figure(ax), ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def new_grid(ax: Axes | Sequence[Axes] | None, n: int, panel: tuple[float, float], ncols: int = 3
             ) -> tuple[Figure, list[Axes]]:  # fmt: skip
    """``n`` Axes: the given ones (one Axes or a sequence of at least ``n``), or a new Figure with a grid of
    ``ceil(n / ncols)`` x ``min(n, ncols)`` panels of ``panel`` inches each (unused panels hidden)."""
    if ax is not None:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
        if len(axes) < n:
            from csq_hw.errors import UserError

            raise UserError(f"ax= gives {len(axes)} Axes for {n} panels; pass {n} (e.g. fig.subplots(1, {n}))")
        return root_figure(axes[0]), axes[:n]
    cols = max(1, min(n, ncols))
    rows = -(-n // cols)
    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows), layout="constrained")
    grid = list(fig.subplots(rows, cols, squeeze=False).flat)
    for extra in grid[n:]:
        extra.set_visible(False)
    return fig, grid[:n]


def spans_decades(values: Iterable[float], ratio: float = LOG_SPAN) -> bool:
    """True when the finite positive ``values`` have ``max / min >= ratio``."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return bool(len(v)) and float(v.max() / v.min()) >= ratio


def use_log_if_spanning(ax: Axes, axis: str, values: Iterable[float], ratio: float = LOG_SPAN) -> bool:
    """Set ``axis`` (``"x"`` or ``"y"``) of ``ax`` logarithmic when ``values`` span ``ratio``; else a linear axis
    with compact engineering labels (``120k``) so long numbers do not overlap. Returns True for log."""
    log = spans_decades(values, ratio)
    target = ax.xaxis if axis == "x" else ax.yaxis
    if log:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    else:
        target.set_major_locator(ticker.MaxNLocator(nbins=5))
        target.set_major_formatter(count_formatter())
    return log


def count_formatter() -> ticker.Formatter:
    """Engineering labels without a unit (``1.2k``, ``340``, ``2M``)."""
    return ticker.EngFormatter(sep="")


def log_safe(values: Iterable[float]) -> np.ndarray:
    """``values`` as float64 with every value <= 0 (and non-finite) replaced by NaN: on a log axis a line then
    breaks there instead of plunging to minus infinity."""
    v = np.asarray(list(values), dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def legend_outside(ax: Axes, where: str = "right", handles: Sequence[Any] | None = None, **kwargs: Any) -> Any:
    """A legend outside the axes: right of it (``where="right"``, top aligned) or above it (``"top"``), of the
    labelled artists or of ``handles``. Returns the Legend, or None when there is nothing to list."""
    if handles is None:
        handles = ax.get_legend_handles_labels()[0]
    if not handles:
        return None
    kwargs.setdefault("fontsize", 8)
    kwargs.setdefault("frameon", False)
    if where == "top":
        return ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.02), ncol=kwargs.pop("ncol", 4),
                         borderaxespad=0.0, **kwargs)  # fmt: skip
    return ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def integer_ticks(ax: Axes, axis: str = "y") -> None:
    """Only whole numbers as ticks on ``axis`` (bits are integers)."""
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(ticker.MaxNLocator(integer=True))


def style(i: int) -> dict[str, Any]:
    """Line style number ``i``: 10 colours, then the same colours with another marker and line style, so no two
    of the first 40 series look alike."""
    j = i // len(_COLORS)
    return {"color": _COLORS[i % len(_COLORS)], "marker": _MARKERS[(i + j) % len(_MARKERS)],
            "linestyle": _LINES[j % len(_LINES)]}  # fmt: skip
