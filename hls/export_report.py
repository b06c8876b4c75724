"""Parts of ``csq_report.json`` that are not the bit-exact check: the project's files and the cost agreement.

``files``: what the export wrote for the vendor flow and for reopening the project (see docs/hls.md, "Files").
``cost_agreement``: the run's final cost at the budget's pricing (``summary.json``'s ``final_cost``, the guarantee)
against the same cost kind priced with the exact weights (the report's ``costs.models``) and, for a LUT budget,
da4ml's adder graph (:mod:`csq_hw.handoff.cost_agreement`).
"""

from __future__ import annotations

from typing import Any

from csq_hw.handoff.cost_agreement import cost_agreement

from .testbench import TB_DIR, TB_INPUTS, TB_OUTPUTS

__all__ = ["project_files", "cost_agreement_of"]


def project_files(project_name: str, tb_samples: int) -> dict[str, Any]:
    """The files of an exported project, relative to its directory."""
    return {
        "hls4ml_config": "hls4ml_config.yml",  # no pickled model: yaml.safe_load reads it (link_existing_project)
        "saved_model": f"{project_name}.fml",  # hls4ml.converters.load_saved_model(path)
        "testbench": f"{project_name}_test.cpp",
        "tb_inputs": f"{TB_DIR}/{TB_INPUTS}" if tb_samples else None,
        "tb_outputs": f"{TB_DIR}/{TB_OUTPUTS}" if tb_samples else None,
        "tb_samples": tb_samples,
    }


def cost_agreement_of(summary: dict[str, Any] | None, costs: dict[str, Any]) -> dict[str, Any] | None:
    """The budget pricing of the run against the export's pricings of the same cost (None without a summary)."""
    if not summary or "budget" not in summary or "final_cost" not in summary:
        return None
    budget = summary["budget"]
    kind = budget["cost"]
    others: dict[str, Any] = {"exact weights": costs.get("models", {}).get(kind)}
    da = costs.get("da4ml")
    if kind.split(":")[0] == "lut" and isinstance(da, dict) and da.get("complete"):
        others["da4ml adder graph"] = da["total"]
    return cost_agreement(kind, budget.get("unit", ""), budget["value"], summary["final_cost"], others)
