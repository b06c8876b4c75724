"""One meaning of "the cost of the final model": the budget's own pricing is the guarantee; others are reported.

The trainer prices the final model with the budget's cost model at the layers' bit widths (``final_cost``, the
number held to the budget). Other pricings of the same cost kind can differ: the same cost model given the exact
integer weights (a LUT model that sizes each product by the weight's actual digits), or da4ml's adder graph for a
LUT budget. Where one differs by more than :data:`AGREE_REL` of the budget pricing, :func:`cost_agreement` says so
in numbers and :func:`agreement_note` in words, for the summary, the CLI output and ``csq_report.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["AGREE_REL", "cost_agreement", "agreement_note"]

AGREE_REL = 0.01  # pricings within 1 % of each other are taken to agree


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def cost_agreement(
    kind: str, unit: str, budget_value: float, budget_pricing: float, others: Mapping[str, Any]
) -> dict[str, Any]:
    """Compare the budget pricing of the final model with other pricings of the same cost kind.

    Args:
        kind: the budget's cost model name (e.g. ``lut``).
        unit: its unit (e.g. ``LUT``).
        budget_value: the budget, in ``unit``.
        budget_pricing: the final model's cost at the budget's pricing (``summary.json``'s ``final_cost``).
        others: ``{pricing name: value}`` (non-numbers, e.g. an error text, are skipped).

    Returns:
        ``{"cost", "unit", "budget", "budget_pricing", "within_budget", "agree", "others": {name: {"value",
        "ratio", "within_budget"}}, "note"}``; ``agree`` is false when any other pricing differs by more than
        :data:`AGREE_REL`.
    """
    rows: dict[str, dict[str, Any]] = {}
    for name, value in others.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        ratio = value / budget_pricing if budget_pricing else math.inf if value else 1.0
        rows[name] = {"value": float(value), "ratio": ratio, "within_budget": value <= budget_value * (1 + 1e-9)}
    agree = all(abs(r["ratio"] - 1.0) <= AGREE_REL for r in rows.values())
    out = {
        "cost": kind,
        "unit": unit,
        "budget": float(budget_value),
        "budget_pricing": float(budget_pricing),
        "within_budget": budget_pricing <= budget_value * (1 + 1e-9),
        "agree": agree,
        "others": rows,
    }
    out["note"] = agreement_note(out)
    return out


def agreement_note(agreement: Mapping[str, Any]) -> str | None:
    """One sentence when the pricings disagree (None when they agree), e.g. ``lut: 115,387 LUT at the budget's
    pricing (the guarantee, <= the budget 130,154); priced with the exact weights: 135,097 LUT (1.171 x, over the
    budget)``."""
    if agreement["agree"]:
        return None
    a, unit = agreement, agreement["unit"]
    where = "<=" if a["within_budget"] else ">"
    parts = [
        f"{name}: {_num(r['value'])} {unit} ({r['ratio']:.3f} x, {'within' if r['within_budget'] else 'over'} the "
        "budget)"
        for name, r in a["others"].items()
        if abs(r["ratio"] - 1.0) > AGREE_REL
    ]
    return (
        f"{a['cost']}: {_num(a['budget_pricing'])} {unit} at the budget's pricing (the guarantee, {where} the "
        f"budget {_num(a['budget'])}); priced otherwise: " + "; ".join(parts)
    )
