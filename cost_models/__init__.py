"""Pluggable, differentiable hardware cost models for mixed-precision search.

Each model is a pure function of per-layer geometry (:class:`LayerGeometry`) and per-layer bits
(:class:`LayerBits`); see :mod:`cost_models.base`. This package imports nothing from ``csq_hw`` or ``hls``.
"""

from .base import CostError, CostModel, LayerBits, LayerGeometry, SumOverLayers
from .geometry import is_weight_layer, trace_geometry
from .registry import Budget, available, get_cost_model, parse_budget, register, split_budget_spec, uniform_bits
from .size import SizeCost

__all__ = [
    "Budget",
    "CostError",
    "CostModel",
    "LayerBits",
    "LayerGeometry",
    "SizeCost",
    "SumOverLayers",
    "available",
    "get_cost_model",
    "is_weight_layer",
    "parse_budget",
    "register",
    "split_budget_spec",
    "trace_geometry",
    "uniform_bits",
]
