"""A finished run's summary: the record ``summary.json`` holds, and the aligned report ``csq-hw train``/``demo`` print.

The report (:func:`summary_lines`) has three tables: the accuracies (%) and average weight bits; every cost with its
unit (``cost_models.get_cost_model(name).unit``), the budget cost first with its budget and the ratio; and the
per-layer bits (weight bits and signed-digit positions, activation bits).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from torch import nn

from cost_models import Budget, LayerGeometry, get_cost_model
from cost_models.report import all_costs
from csq_hw.handoff.cost_agreement import cost_agreement
from csq_hw.handoff.precision_types import Precisions
from csq_hw.quant.layer_bits import average_bits, hard_bits
from csq_hw.text_table import MISSING, column_formatter, is_missing, render_table
from csq_hw.train.budget_set import BudgetSet, as_budget_set

__all__ = ["EXACT_WEIGHTS", "layer_rows", "summary_record", "summary_lines", "print_summary"]

EXACT_WEIGHTS = "exact weights"  # the pricing of the budget's cost model given the exact integer weights


def layer_rows(precisions: dict[str, Any], geometry: Sequence[LayerGeometry]) -> list[dict[str, Any]]:
    """One row per quantized layer: name, op, weights, MACs, weight bits and positions, activation bits."""
    geo = {g.name: g for g in geometry}
    return [
        {
            "name": la.name,
            "op": la.op,
            "n_weights": geo[la.name].n_weights,
            "macs": geo[la.name].macs,
            "weight_bits": la.weight.bits,
            "weight_positions": list(la.weight.positions),
            "weight_span_bits": la.weight.span_bits,
            "act_bits": la.input.bits,
            "act_signed": la.input.signed,
        }
        for la in Precisions.of(precisions).layers
    ]


def summary_record(
    model: nn.Module,
    geometry: Sequence[LayerGeometry],
    budget: Budget | BudgetSet,
    precisions: dict[str, Any],
    *,
    scores: dict[str, float | None],
    repairs: list[dict[str, Any]],
    run: dict[str, Any],
    train_seconds: float,
    warnings: list[str],
) -> dict[str, Any]:
    """The ``summary.json`` record of a finished (hard-phase) CSQ ``model``, before the file digests are added.

    ``scores``: ``test_acc`` (exact model; None for another loss), ``test_loss``, ``hard_model_test_acc``,
    ``soft_test_acc`` (accuracies in [0, 1]); ``run``: ``model``, ``dataset``, ``epochs``, ``seed``, ``method``,
    ``exportable``. Costs are in each cost model's unit, ``train_seconds`` in seconds.
    """
    bits = hard_bits(model, with_values=True)
    budgets = as_budget_set(budget)
    finals = budgets.costs(geometry, bits if budgets.exact_weights else budgets.bits(model))  # the priced bits
    costs = all_costs(geometry, bits)
    entries = []
    for b, final in zip(budgets, finals, strict=True):
        # the budget prices layer widths; the same cost model given the exact weights may price the model otherwise
        others = {EXACT_WEIGHTS: costs[b.cost.name]} if b.cost.name in costs else {}
        agreement = cost_agreement(b.cost.name, b.cost.unit, b.value, final, others)
        entries.append({"cost": b.cost.name, "value": b.value, "unit": b.cost.unit, "spec": b.spec,
                        "final_cost": final, "cost_over_budget": final / b.value,
                        "cost_agreement": agreement})  # fmt: skip
    primary, final_cost = budgets.primary, finals[0]
    return {
        "test_acc": scores["test_acc"],
        "test_loss": scores["test_loss"],
        "metric": "accuracy" if scores["test_acc"] is not None else "loss",
        "hard_model_test_acc": scores["hard_model_test_acc"],
        "soft_test_acc": scores["soft_test_acc"],
        "costs": costs,
        "budget": {"cost": primary.cost.name, "value": primary.value, "unit": primary.cost.unit, "spec": primary.spec},
        "final_cost": final_cost,  # the primary constraint's; every constraint: "budgets"
        "cost_over_budget": final_cost / primary.value,
        "cost_agreement": entries[0]["cost_agreement"],
        "budgets": entries,
        "avg_weight_bits": average_bits(model),
        "layers": layer_rows(precisions, geometry),
        "repairs": repairs,
        **run,
        "train_seconds": train_seconds,
        "warnings": warnings,
    }


def _unit(name: str) -> str:
    try:
        return get_cost_model(name).unit
    except Exception:  # noqa: BLE001 (a cost name this installation no longer knows: print it without a unit)
        return ""


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _scores(summary: dict[str, Any]) -> list[str]:
    avg = summary["avg_weight_bits"]
    rows: list[tuple[str, float | None, str]] = []
    if summary.get("test_acc") is not None:
        rows += [("exact model test accuracy", _percent(summary["test_acc"]), "%"),
                 ("soft model test accuracy", _percent(summary.get("soft_test_acc")), "%"),
                 ("hard model test accuracy", _percent(summary.get("hard_model_test_acc")), "%")]  # fmt: skip
    else:
        rows.append(("exact model test loss", summary["test_loss"], ""))
    rows += [("average weight bits", avg["weighted"], "bit (parameter-weighted)"),
             ("average weight bits per layer", avg["unweighted"], "bit (unweighted mean over layers)")]  # fmt: skip
    cells = [[name, f"{value:.4g}" if unit == "" else f"{value:.2f}", unit] for name, value, unit in rows
             if not is_missing(value)]  # fmt: skip
    return render_table(["result", "value", "unit"], cells, "lrl")


def _constraints(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Every constraint of the run (a summary written before several were possible has only ``budget``)."""
    if summary.get("budgets"):
        return list(summary["budgets"])
    return [{**summary["budget"], "final_cost": summary["final_cost"], "cost_over_budget": summary["cost_over_budget"],
             "cost_agreement": summary.get("cost_agreement")}]  # fmt: skip


def _costs(summary: dict[str, Any]) -> list[str]:
    names, units, values, budgets, ratios, notes = [], [], [], [], [], []
    constrained = set()
    for b in _constraints(summary):  # each constraint first, with its budget and ratio
        constrained.add(b["cost"])
        names.append(f"{b['cost']} (budget)")
        units.append(b["unit"])
        values.append(b["final_cost"])
        budgets.append(b["value"])
        ratios.append(f"{b['cost_over_budget']:.3f}")
        agreement = b.get("cost_agreement") or {}
        if agreement.get("note"):  # the same cost priced otherwise, right under its budget row
            other = agreement["others"][EXACT_WEIGHTS]
            names.append(f"{b['cost']} ({EXACT_WEIGHTS})")
            units.append(b["unit"])
            values.append(other["value"])
            budgets.append(b["value"])
            ratios.append(f"{other['value'] / b['value']:.3f}")
            notes.append(f"note: {agreement['note']}")
    for name, value in summary["costs"].items():
        if name not in constrained:
            names.append(name)
            units.append(_unit(name))
            values.append(value)
            budgets.append(None)
            ratios.append("")
    value_of, budget_of = column_formatter(values), column_formatter(budgets)
    cells = [[name, unit, value_of(v), budget_of(w) if w is not None else "", r]
             for name, unit, v, w, r in zip(names, units, values, budgets, ratios, strict=True)]  # fmt: skip
    return [*render_table(["cost", "unit", "value", "budget", "value/budget"], cells, "llrrr"), *notes]


def _layers(summary: dict[str, Any]) -> list[str]:
    cells = [[str(r["name"]), str(r["op"]), str(r["weight_bits"]),
              ", ".join(map(str, r["weight_positions"])) or MISSING,
              str(r["act_bits"]), "signed" if r.get("act_signed") else "unsigned"]
             for r in summary["layers"]]  # fmt: skip
    header = ["layer", "op", "weight bits", "weight bit positions", "act bits", "act sign"]
    return render_table(header, cells, "llrlrl")


def summary_lines(summary: dict[str, Any], out: str | Path | None = None) -> list[str]:
    """The report of a ``summary.json`` record: run line, scores, costs against the budget, per-layer bits."""
    seconds = summary.get("train_seconds")
    about = [f"{summary.get('model')} on {summary.get('dataset')}", f"method {summary.get('method')}",
             f"{summary.get('epochs')} epochs", f"seed {summary.get('seed')}",
             *([f"{seconds:.1f} s"] if seconds is not None else [])]  # fmt: skip
    head = [f"run directory: {out}"] if out is not None else []
    return [*head, ", ".join(about), "", *_scores(summary), "", *_costs(summary), "", *_layers(summary)]


def print_summary(summary: dict[str, Any], out: str | Path | None = None, file: TextIO | None = None) -> None:
    """Print :func:`summary_lines` (to stdout by default)."""
    print("\n".join(summary_lines(summary, out)), file=file or sys.stdout)
