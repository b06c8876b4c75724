"""Sweeps over budgets and seeds: the points (:mod:`.points`), the runner and its process/Ray backends
(:mod:`.runner`, :mod:`.backends`), the results table (:mod:`.table`) and Pareto fronts (:mod:`.pareto`).

``import csq_hw.sweep`` loads neither pandas nor Ray (both come with the first table or Ray run).
"""

from csq_hw.sweep.backends import BACKENDS, Backend, local_backend, register_backend
from csq_hw.sweep.points import (
    BASELINES,
    PointResult,
    PointSpec,
    budget_list,
    check_budgets,
    make_points,
    parse_budget_values,
    run_point,
)
from csq_hw.sweep.runner import RESULTS_CSV, load_results, run_sweep

__all__ = [
    "BACKENDS",
    "BASELINES",
    "Backend",
    "PointResult",
    "PointSpec",
    "RESULTS_CSV",
    "budget_list",
    "check_budgets",
    "load_results",
    "local_backend",
    "make_points",
    "parse_budget_values",
    "register_backend",
    "run_point",
    "run_sweep",
]
