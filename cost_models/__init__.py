"""Pluggable, differentiable hardware cost models for mixed-precision search.

Each model is a pure function of per-layer geometry (:class:`LayerGeometry`) and per-layer bits
(:class:`LayerBits`); see :mod:`cost_models.base` and ``docs/cost_models.md``. This package imports nothing from
``csq_hw`` or ``hls``.

Quick use::

    geometry = trace_geometry(model, input_shape)
    cost = get_cost_model("latency:bismo")            # or "bops", "lut:resource,rf4", "bops+0.5*lut", ...
    total = cost(geometry, bits)                      # 0-dim tensor, differentiable in the bits
    table = cost_table(geometry, bits)                # pandas, one row per layer + TOTAL, one column per model
"""

from .base import CostError, CostModel, LayerBits, LayerGeometry, SumOverLayers
from .budget_spec import Budget, BudgetSpec, Constraint, parse_budget, parse_budgets, split_budget_spec
from .combine import Normalized, WeightedSum
from .geometry import is_weight_layer, trace_geometry
from .registry import available, get_cost_model, register, uniform_bits
from .report import all_costs, cost_table, per_layer_costs
from .size import SizeCost

__all__ = [
    "Budget",
    "BudgetSpec",
    "Constraint",
    "CostError",
    "CostModel",
    "LayerBits",
    "LayerGeometry",
    "Normalized",
    "SizeCost",
    "SumOverLayers",
    "WeightedSum",
    "all_costs",
    "available",
    "cost_table",
    "get_cost_model",
    "is_weight_layer",
    "parse_budget",
    "parse_budgets",
    "per_layer_costs",
    "register",
    "split_budget_spec",
    "trace_geometry",
    "uniform_bits",
]
