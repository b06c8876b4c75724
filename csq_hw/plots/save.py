"""Saving a figure: PNG, SVG or PDF, each file written atomically (:func:`csq_hw.runtime.atomic_io.atomic_write`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from csq_hw.errors import UserError

__all__ = ["FORMATS", "DEFAULT_FORMATS", "save_figure", "maybe_save"]

FORMATS = ("png", "svg", "pdf")
DEFAULT_FORMATS = ("png", "svg")  # a path without a suffix gets both
DPI = 150


def save_figure(fig: Figure, path: str | Path, formats: Sequence[str] | None = None) -> list[Path]:
    """Write ``fig`` to ``path``; returns the files written.

    Args:
        fig: the figure (e.g. what a ``plot_*`` function returned).
        path: ``out/fronts.png`` (that format only) or ``out/fronts`` (one file per entry of ``formats``); any other
            suffix is part of the name (``out/sweep-1.5`` -> ``out/sweep-1.5.png``, ``out/sweep-1.5.svg``).
        formats: e.g. ``("png", "svg")``; default: the path's suffix, else :data:`DEFAULT_FORMATS`.
    """
    base = Path(path)
    suffix = base.suffix.lstrip(".").lower()
    if suffix in FORMATS:
        base = base.with_suffix("")
        formats = formats or (suffix,)
    formats = tuple(formats or DEFAULT_FORMATS)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UserError(f"plot format {', '.join(bad)}: use {', '.join(FORMATS)}")
    from csq_hw.runtime.atomic_io import atomic_write

    out = []
    for fmt in formats:
        target = base.with_name(f"{base.name}.{fmt}")
        atomic_write(target, lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=DPI, bbox_inches="tight"))
        out.append(target)
    return out


def maybe_save(fig: Figure, path: str | Path | None, formats: Sequence[str] | None = None) -> Figure:
    """``save_figure(fig, path, formats)`` when ``path`` is given; returns ``fig``."""
    if path is not None:
        save_figure(fig, path, formats)
    return fig
