"""Tables for people: aligned plain text and GitHub Markdown, one number style per column, bounded width.

A column of numbers gets one style (:func:`column_formatter`): fixed point with thousands separators and the same
number of decimals on every row (``153,216``, ``3,287.1``), or, when its values span beyond 1e10 or below 1e-3,
engineering notation with four significant digits (``1.850e+09``). A missing value (None, NaN, ``""``) prints as
:data:`MISSING`. Used by ``csq-hw cost`` and the run summary that ``csq-hw train``/``demo`` print.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["MISSING", "is_missing", "column_formatter", "render_table", "markdown_table"]

MISSING = "-"
_ENG_ABOVE = 1e10  # a column with a magnitude at or above this is printed in engineering notation
_ENG_BELOW = 1e-3  # ... or with a nonzero magnitude below this


def is_missing(value: object) -> bool:
    """None, NaN and ``""`` are missing (a total that is not defined, a cost without a budget)."""
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _engineering(value: float) -> str:
    """Four significant digits, the exponent a multiple of 3: ``1.850e+09``, ``12.40e+06``, ``185.0e-06``."""
    if value == 0:
        return "0"
    exp = 3 * math.floor(math.log10(abs(value)) / 3)
    for e in (exp, exp + 3):  # 999.96e+03 rounds up to 1.000e+06
        mant = value / 10.0**e
        text = f"{mant:.{3 - min(max(math.floor(math.log10(abs(mant))), 0), 3)}f}"
        if abs(float(text)) < 1000:
            return f"{text}e{e:+03d}"
    return f"{value:.3e}"  # pragma: no cover (the second exponent always fits)


def column_formatter(values: Sequence[object]) -> Callable[[object], str]:
    """One style for a column of numbers (missing values ignored, and printed as :data:`MISSING`).

    Integers only: ``1,234``. Otherwise fixed point with ``d`` decimals for all rows, ``d`` giving the smallest
    nonzero magnitude at least three significant digits (0 <= d <= 4): ``28.94`` and ``5260.16`` print as ``28.9``
    and ``5,260.2``; ``289.55`` and ``5260.16`` as ``290`` and ``5,260``. Magnitudes >= 1e10 or < 1e-3 (nonzero)
    switch the whole column to engineering notation.
    """
    numbers = [float(v) for v in values if not is_missing(v)]
    finite = [abs(v) for v in numbers if math.isfinite(v)]
    nonzero = [v for v in finite if v > 0]
    if nonzero and (max(nonzero) >= _ENG_ABOVE or min(nonzero) < _ENG_BELOW):

        def cell(value: object) -> str:
            return MISSING if is_missing(value) else _engineering(float(value))

        return cell
    if all(v == round(v) for v in finite):
        decimals = 0
    else:
        decimals = min(max(2 - math.floor(math.log10(min(nonzero))), 0), 4)

    def fixed(value: object) -> str:
        if is_missing(value):
            return MISSING
        v = float(value)
        return f"{v:,.{decimals}f}" if math.isfinite(v) else str(v)

    return fixed


def _widths(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(header[j]), *(len(r[j]) for r in rows)]) for j in range(len(header))]


def _line(cells: Sequence[str], widths: Sequence[int], align: str) -> str:
    parts = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align, strict=True)]
    return "  ".join(parts).rstrip()


def render_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    align: str,
    max_width: int = 120,
    key_columns: int = 1,
) -> list[str]:
    """Aligned lines of a table of strings: a header, a rule of dashes, the rows; columns two spaces apart.

    ``align``: one letter per column, ``l`` or ``r`` (numbers). Lines stay within ``max_width`` characters: the
    columns that do not fit go to further blocks (a blank line between), each repeating the first ``key_columns``
    columns (e.g. the layer name). One column wider than ``max_width`` is printed alone, as it is.
    """
    if len(align) != len(header) or any(len(r) != len(header) for r in rows):
        raise ValueError("header, align and every row need one entry per column")
    widths = _widths(header, rows)
    keys = list(range(min(key_columns, len(header))))
    used = sum(widths[j] + 2 for j in keys)
    blocks: list[list[int]] = [[]]
    for j in range(len(keys), len(header)):
        if blocks[-1] and used + widths[j] > max_width:
            blocks.append([])
            used = sum(widths[k] + 2 for k in keys)
        blocks[-1].append(j)
        used += widths[j] + 2
    lines: list[str] = []
    for block in blocks:
        cols = keys + block
        w, a = [widths[j] for j in cols], "".join(align[j] for j in cols)
        if lines:
            lines.append("")
        lines.append(_line([header[j] for j in cols], w, a))
        lines.append(_line(["-" * x for x in w], w, a))
        lines.extend(_line([r[j] for j in cols], w, a) for r in rows)
    return lines


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """A GitHub Markdown table: header, separator (``---:`` for right-aligned columns), one line per row; ``|``
    in a cell is escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rule = ["---:" if a == "r" else ":---" for a in align]
    return [line(header), line(rule), *(line(r) for r in rows)]
