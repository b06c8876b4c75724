"""Pareto fronts of accuracy (maximised) against a hardware cost (minimised): pure functions on DataFrames.

A row is on the front when no other row is at most as costly and at least as accurate with one of the two strictly
better. Of several rows with identical (cost, accuracy) the first is kept. Rows with a missing cost or accuracy are
ignored.

Example::

    from csq_hw.sweep.pareto import pareto_front
    front = pareto_front(df[df.method == "csq"], "cost_bops")      # sorted by cost, ascending
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["pareto_mask", "pareto_front", "min_cost_at_accuracy", "fronts_by_method"]


def _resolve(df: pd.DataFrame, cost_col: str) -> str:
    if cost_col in df.columns:
        return cost_col
    if f"cost_{cost_col}" in df.columns:  # accept the cost-model name ("bops") for the column ("cost_bops")
        return f"cost_{cost_col}"
    raise KeyError(f"no column {cost_col!r} (or 'cost_{cost_col}') in the table; columns: {', '.join(df.columns)}")


def pareto_mask(df: pd.DataFrame, cost_col: str, acc_col: str = "test_acc") -> pd.Series:
    """Boolean Series aligned with ``df``: True for rows on the (min cost, max accuracy) front."""
    cost_col = _resolve(df, cost_col)
    mask = pd.Series(False, index=df.index)
    valid = df[[cost_col, acc_col]].dropna()
    # cheapest first; at equal cost the most accurate first; stable keeps the first of exact duplicates
    order = valid.sort_values([cost_col, acc_col], ascending=[True, False], kind="stable")
    best = -math.inf
    for idx, acc in zip(order.index, order[acc_col], strict=True):
        if acc > best:
            mask[idx] = True
            best = acc
    return mask


def pareto_front(df: pd.DataFrame, cost_col: str, acc_col: str = "test_acc") -> pd.DataFrame:
    """The rows of ``df`` on the front, sorted by cost ascending (so accuracy is strictly increasing too).

    Args:
        df: any table with a cost and an accuracy column (e.g. :func:`csq_hw.sweep.load_results`).
        cost_col: cost column (``"cost_bops"``) or cost-model name (``"bops"``); lower is better.
        acc_col: accuracy column (fraction); higher is better.
    """
    cost_col = _resolve(df, cost_col)
    front = df[pareto_mask(df, cost_col, acc_col)]
    return front.sort_values([cost_col, acc_col], ascending=[True, False], kind="stable")


def fronts_by_method(df: pd.DataFrame, cost_col: str, acc_col: str = "test_acc") -> dict[str, pd.DataFrame]:
    """``{method: its own front}`` for a sweep table with a ``method`` column (``csq``, ``uniform``)."""
    return {m: pareto_front(g, cost_col, acc_col) for m, g in df.groupby("method", sort=True)}


def min_cost_at_accuracy(
    df: pd.DataFrame, cost_col: str, min_acc: float, acc_col: str = "test_acc"
) -> pd.Series | None:
    """The cheapest row with accuracy ``>= min_acc`` (e.g. uniform 8-bit accuracy minus 0.01), or None."""
    cost_col = _resolve(df, cost_col)
    ok = df[df[acc_col] >= min_acc].dropna(subset=[cost_col])
    if ok.empty:
        return None
    return ok.sort_values([cost_col, acc_col], ascending=[True, False], kind="stable").iloc[0]
