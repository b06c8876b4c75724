"""The layer x bit-position map: CSQ's own output, which bit planes each layer kept.

A weight is ``int * 2^e`` with ``int = sum_{b in positions} d_b 2^b``, ``d_b in {-1, 0, 1}`` (docs/precisions_v1.md).
Row = layer, column = bit position ``b`` (or, with ``exponents=True``, the power of two ``b + e``, so that layers
with different steps line up at the binary point); the most significant column is on the left. A cell is
selected (the plane is kept), inside the span (between the lowest and highest selected position, not kept) or
empty; a first column marks the sign bit (``k = 1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from csq_hw.plots.run_data import PrecisionSource, layer_label, run_precisions
from csq_hw.plots.save import maybe_save
from csq_hw.plots.style import legend_outside, new_axes

__all__ = ["BitMap", "bit_map", "plot_bit_map", "EMPTY", "SPAN", "SELECTED", "SIGN"]

EMPTY, SPAN, SELECTED, SIGN = 0, 1, 2, 3  # cell values of BitMap.cells and of the plotted image
_COLORS = ("white", "#c6dbef", "#08519c", "#e6550d")
_NAMES = ("not used", "inside the span, not kept", "kept bit plane", "sign bit")


@dataclass(frozen=True)
class BitMap:
    """Which bit positions each layer kept.

    Attributes:
        cells: ``(n_layers, n_columns)`` int8, ``EMPTY`` / ``SPAN`` / ``SELECTED``.
        sign: ``(n_layers,)`` bool, the layer's weights have a sign bit.
        columns: per column, the bit position ``b`` (or the exponent ``b + e``), descending (MSB first).
        layers: the layers' module names, in the run's order.
        exponents: True when ``columns`` are exponents of two.
    """

    cells: np.ndarray
    sign: np.ndarray
    columns: tuple[int, ...]
    layers: tuple[str, ...]
    exponents: bool

    def image(self) -> np.ndarray:
        """``(n_layers, 1 + n_columns)``: the sign column (``SIGN`` or ``EMPTY``) then :attr:`cells`."""
        return np.column_stack([np.where(self.sign, SIGN, EMPTY), self.cells]).astype(np.int8)


def bit_map(run: PrecisionSource, exponents: bool = False) -> BitMap:
    """The :class:`BitMap` of a run (directory, ``precisions.json``, dict or typed precisions)."""
    prec = run_precisions(run)
    layers = prec.layers
    shift = [la.weight.grid_exponent if exponents else 0 for la in layers]
    if exponents:
        used = [b + s for la, s in zip(layers, shift, strict=True) for b in la.weight.positions]
        hi, lo = (max(used), min(used)) if used else (prec.max_bits - 1, 0)
    else:
        hi, lo = prec.max_bits - 1, 0
    columns = tuple(range(hi, lo - 1, -1))
    col = {c: j for j, c in enumerate(columns)}
    cells = np.full((len(layers), len(columns)), EMPTY, dtype=np.int8)
    for i, (la, s) in enumerate(zip(layers, shift, strict=True)):
        pos = [b + s for b in la.weight.positions]
        if pos:
            for c in range(min(pos), max(pos) + 1):
                cells[i, col[c]] = SPAN
            for c in pos:
                cells[i, col[c]] = SELECTED
    sign = np.array([la.weight.k == 1 for la in layers], dtype=bool)
    return BitMap(cells, sign, columns, tuple(la.name for la in layers), exponents)


def plot_bit_map(
    run: PrecisionSource,
    path: str | Path | None = None,
    *,
    ax: Axes | None = None,
    exponents: bool = False,
    formats: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Image of :func:`bit_map`: layers as rows (module names), the sign column then bit positions as columns;
    right of each row its kept bits and step (``3 b, 2^-7``). Legend above the image.

    Args:
        run: a run directory, its ``precisions.json``, the dict or the typed precisions.
        path: where to save (suffix or PNG + SVG); None: nothing is written.
        ax: the Axes to draw into; default: a new Figure.
        exponents: columns are powers of two (``b + e``) instead of the position ``b``.
        title: axes title.
    Returns:
        the Figure (the image is ``ax.images[0]``; its array is :meth:`BitMap.image`).
    """
    bm = bit_map(run, exponents=exponents)
    layers = run_precisions(run).layers
    n_rows, n_cols = bm.cells.shape
    fig, ax = new_axes(ax, (max(4.5, 0.42 * (n_cols + 1) + 3.5), max(2.2, 0.5 * n_rows + 1.4)))
    cmap = ListedColormap(_COLORS)
    ax.imshow(bm.image(), cmap=cmap, norm=BoundaryNorm(np.arange(-0.5, 4.5), cmap.N), aspect="auto",
              interpolation="nearest")  # fmt: skip
    ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
    ax.grid(True, which="minor", color="0.75", linewidth=0.6)
    ax.tick_params(which="minor", length=0)
    ax.axvline(0.5, color="0.2", linewidth=1.2)  # sign | magnitude
    ax.set_xticks(range(n_cols + 1), ["±", *(str(c) for c in bm.columns)], fontsize=8)
    ax.set_yticks(range(n_rows), [layer_label(la, lines=2) for la in layers], fontsize=8)
    ax.set_xlabel("power of two b + e" if exponents else "bit position b  (weight = ±Σ d_b 2^(b+e))")
    right = ax.secondary_yaxis("right")
    steps = ["" if exponents else f", $2^{{{la.weight.grid_exponent}}}$" for la in layers]
    right.set_yticks(range(n_rows), [f"{la.weight.bits} b{s}" for la, s in zip(layers, steps, strict=True)], fontsize=8)
    right.tick_params(length=0)
    handles = [Patch(facecolor=c, edgecolor="0.6", label=n) for c, n in zip(_COLORS[1:], _NAMES[1:], strict=True)]
    legend_outside(ax, where="top", handles=handles, ncol=3)
    if title:
        ax.set_title(title, fontsize=9, pad=22)
    return maybe_save(fig, path, formats)
