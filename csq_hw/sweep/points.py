"""The points of a budget sweep: budget lists, one :class:`PointSpec` per run, and :func:`run_point`, the pure
function every backend ships to its workers."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csq_hw.errors import UserError
from csq_hw.train.config import TrainConfig

__all__ = ["PointSpec", "PointResult", "BASELINES", "parse_budget_values", "budget_list", "make_points",
           "check_budgets", "run_point", "run_safe"]  # fmt: skip

RUNS_DIR = "runs"
_EMPTY = "empty budget list; give --budgets 1e5,2e5 (values in the cost's unit, or uN) or --budget-range LO:HI:N"


@dataclass(frozen=True)
class PointSpec:
    """One point of a sweep: ``method`` (``"csq"``, ``"qat"`` or ``"uniform"``), its label (the budget spec, e.g.
    ``"bops=200000"``, or ``"bops=u4"`` for uniform 4-bit), the full training config and its run directory."""

    method: str
    label: str
    cfg: TrainConfig
    run_dir: str


@dataclass(frozen=True)
class PointResult:
    """What a backend returns for one point: the summary dict (``summary.json``) or a one-line error."""

    point: PointSpec
    summary: dict[str, Any] | None = None
    error: str | None = None


# --- budget lists -----------------------------------------------------------------------------------------------
def _number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise UserError(f"{what} {text!r} is not a number; write e.g. 1e5") from None
    if not (v > 0 and math.isfinite(v)):
        raise UserError(f"{what} {text!r} must be positive and finite")
    return v


def parse_budget_values(budgets: str | None = None, budget_range: str | None = None) -> list[str]:
    """Budget values as strings: ``"1e5,2e5,u3"`` (comma list; numbers in the cost's unit or ``uN``) and/or
    ``"LO:HI:N"`` (N log-spaced values from LO to HI inclusive). Duplicates are dropped, order kept."""
    values: list[str] = []
    if budgets is not None:
        for item in budgets.split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower().startswith("u"):
                _number(item[1:], "uniform budget bits in")
                values.append(item.lower())
            else:
                values.append(f"{_number(item, 'budget'):.6g}")
    if budget_range is not None:
        parts = budget_range.split(":")
        if len(parts) != 3:
            raise UserError(f"--budget-range {budget_range!r} is not LO:HI:N; write e.g. 1e5:8e5:5")
        lo, hi = _number(parts[0], "budget range start"), _number(parts[1], "budget range end")
        try:
            n = int(parts[2])
        except ValueError:
            raise UserError(f"--budget-range count {parts[2]!r} is not an integer; write e.g. 1e5:8e5:5") from None
        if n < 1 or (n == 1 and lo != hi) or lo > hi:
            raise UserError(f"--budget-range {budget_range!r}: need LO <= HI and N >= 2 (N = 1 only when LO = HI)")
        step = (math.log(hi) - math.log(lo)) / max(n - 1, 1)
        # 4 significant digits, then the same text as a listed value, so 2e5 listed or from a range is one point
        values += [f"{float(f'{math.exp(math.log(lo) + j * step):.4g}'):.6g}" for j in range(n)]
    out = list(dict.fromkeys(values))
    if not out:
        raise UserError(_EMPTY)
    return out


def budget_list(kind: str, budgets: str | Sequence[str] | None = None, budget_range: str | None = None) -> list[str]:
    """Full budget specs ``KIND=VALUE`` for :func:`run_sweep`, e.g. ``budget_list("bops", "1e5,2e5")``."""
    if budgets is not None and not isinstance(budgets, str):
        budgets = ",".join(str(b) for b in budgets)
    return [f"{kind}={v}" for v in parse_budget_values(budgets, budget_range)]


# --- points -----------------------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-")


BASELINES = ("qat", "uniform")


def make_points(
    base_cfg: TrainConfig,
    budgets: Sequence[str],
    out_dir: str | Path,
    baseline_bits: Sequence[int] | None = None,
    baseline: str = "qat",
) -> list[PointSpec]:
    """CSQ points (one per budget spec) and baseline points at each of ``baseline_bits`` (weights and
    activations, same quantizers, data and epochs; priced in the first budget's cost kind).

    ``baseline``: ``"qat"`` (plain straight-through uniform QAT on float shadow weights, the reference line) or
    ``"uniform"`` (CSQ's bit planes with every position fixed: an ablation).
    """
    if not budgets:
        raise UserError(_EMPTY)
    if baseline not in BASELINES:
        raise UserError(f"unknown baseline {baseline!r}; use one of {', '.join(BASELINES)}")
    from cost_models import Constraint

    runs = Path(out_dir) / RUNS_DIR
    points = []
    for spec in dict.fromkeys(budgets):
        parsed = Constraint.parse(spec)
        kind, value = parsed.kind, parsed.value_text
        name = f"csq-{_slug(kind)}-{_slug(value)}-s{base_cfg.train.seed}"
        cfg = base_cfg.replace(budget=spec, uniform=False, qat=False)
        points.append(PointSpec("csq", spec, cfg, str(runs / name)))
    kind = Constraint.parse(budgets[0]).kind
    for b in dict.fromkeys(baseline_bits or ()):
        if isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 16:
            raise UserError(f"uniform baseline bits {b!r}; give integers 2..16, e.g. --uniform-bits 2,3,4,5,6,8")
        qat = baseline == "qat"
        cfg = base_cfg.replace(uniform=not qat, qat=qat, max_bits=b, act_bits=b, budget=f"{kind}=u{b}")
        run_dir = runs / f"{baseline}-w{b}a{b}-s{base_cfg.train.seed}"
        points.append(PointSpec(baseline, f"{kind}=u{b}", cfg, str(run_dir)))
    return points


def check_budgets(points: Sequence[PointSpec]) -> None:
    """Resolve every CSQ budget against its model before anything trains; one error naming every infeasible one."""
    from cost_models import CostError
    from csq_hw.train.model_build import build_csq_model

    bad = []
    for p in points:
        if p.method != "csq":
            continue
        try:
            build_csq_model(p.cfg)  # converts, traces and resolves the budget (milliseconds for small models)
        except (UserError, CostError) as exc:
            bad.append((p.label, " ".join(str(exc).split())))
    if bad:
        which = ", ".join(label for label, _ in bad)
        raise UserError(f"{len(bad)} of {sum(p.method == 'csq' for p in points)} budgets infeasible ({which}): "
                        f"{bad[0][1]}")  # fmt: skip


# --- running ----------------------------------------------------------------------------------------------------


def run_point(cfg: TrainConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train one point into ``out_dir`` (continuing from its checkpoint if one is there); returns the summary.

    A pure function of its arguments (no globals, no progress bars), safe to ship to any worker process.
    """
    from csq_hw.runtime.checkpoint import CHECKPOINT_NAME
    from csq_hw.train.train_run import train_run

    out = Path(out_dir)
    return train_run(cfg, out, resume=(out / CHECKPOINT_NAME).is_file(), progress=False)


def run_safe(point: PointSpec) -> PointResult:
    """:func:`run_point` for one point, a user's mistake returned as a one-line ``error`` instead of raised."""
    from cost_models import CostError

    try:
        return PointResult(point, summary=run_point(point.cfg, point.run_dir))
    except (UserError, CostError) as exc:
        return PointResult(point, error=" ".join(str(exc).split()))
