"""The budget-aware regularizer, generalised from CSQ's size term to any cost model, and the final repair.

CSQ (Xiao et al. 2023, Eq. 4 in the reference code) adds ``lambda * (r - T_S) * sum sigma(T m)``: a coefficient
from the *current hard* precision minus the target (a constant, no gradient through it) times the *soft* bit
count. Generalised to a cost model C with budget B:

    L = L_task + lambda * ((C_hard - B) / B) * (C_soft / B)

Below the budget the coefficient is negative and the term rewards bits (they grow); above it, positive, and it
prunes them. The task loss decides where bits go.

Guarantee: :func:`repair_to_budget` runs when the hard phase starts (and once more at the end). While the exact
cost is above the budget it drops the **least useful bit**: among every searched layer's selected weight positions
(while the layer keeps at least one) and every searched activation quantizer's least significant kept bit (while
above its minimum), the one whose removal raises the task loss of the hard model on a fixed training batch the least
per unit of cost saved (the trainer passes that loss); without a loss, the one whose mask logit is smallest, i.e. the
bit the search was least sure of. When the hard phase starts, :func:`fill_to_budget` then adds back, one at a time,
the most useful **activation** bits that still fit (largest loss decrease per unit of cost), so the final cost
lands close under the budget. Weight positions are never revived: a revived position has no useful digits and no
Adam history, so Adam's first normalised steps flip its planes for the whole layer at once (measured on MNIST-1D:
one hard-phase step after reviving a most significant position took the model from 83.5 % to 15.6 %).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from cost_models import Budget, BudgetSpec, Constraint, CostModel, LayerBits, LayerGeometry, get_cost_model
from csq_hw.errors import UserError
from csq_hw.quant.bit_moves import BitMove
from csq_hw.quant.layer_bits import hard_bits
from csq_hw.quant.layers import CSQLayer, csq_layers
from csq_hw.train.budget_set import BudgetSet, as_budget_set

LossFn = Callable[[], float]  # the task loss of the current (hard) model on a fixed batch

__all__ = [
    "resolve_budget",
    "resolve_budgets",
    "fixed_bits_budgets",
    "BudgetRegularizer",
    "repair_to_budget",
    "fill_to_budget",
    "cost_range",
    "RepairStep",
]

BitsOf = Callable[[CSQLayer], float]  # a layer -> the bits to price it at


def _bits_map(model: nn.Module, w_of: BitsOf, a_of: BitsOf) -> dict[str, LayerBits]:
    out = {}
    for name, layer in csq_layers(model):
        t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
        w = w_of(layer)
        out[name] = LayerBits(
            weight=t(w),
            act=t(a_of(layer)),
            weight_span=t(w),
            bias=t(layer.bias_width),
            act_signed=layer.act_signed,
        )
    return out


def cost_range(model: nn.Module, geometry: Sequence[LayerGeometry], cost: CostModel) -> tuple[float, float]:
    """(cheapest, dearest) exact cost reachable by the search: searched weights at 1..N bits, searched activations
    at their min..max width, fixed layers at their fixed widths."""

    with torch.no_grad():
        lo = cost(geometry, _bits_map(model, lambda la: la.weight_bit_range()[0], lambda la: la.act_bit_range()[0]))
        hi = cost(geometry, _bits_map(model, lambda la: la.weight_bit_range()[1], lambda la: la.act_bit_range()[1]))
    return float(lo), float(hi)


def resolve_budget(spec: str | Constraint, model: nn.Module, geometry: Sequence[LayerGeometry]) -> Budget:
    """``KIND=VALUE`` (``uN`` = the cost at uniform N-bit weights and activations; text or a parsed
    :class:`cost_models.Constraint`) resolved for ``model`` and checked reachable."""

    def bits_at(w: float, a: float) -> dict[str, LayerBits]:
        return _bits_map(model, lambda _la: w, lambda _la: a)

    budget = (spec if isinstance(spec, Constraint) else Constraint.parse(spec)).resolve(geometry, bits_at)
    lo, hi = cost_range(model, geometry, budget.cost)
    unit = budget.cost.unit
    if budget.value < lo:
        raise UserError(
            f"budget {spec} = {budget.value:g} {unit} is below the cheapest reachable model ({lo:g} {unit}: every "
            f"searched layer at 1 weight bit and minimum activation bits); raise the budget to at least {lo:g}"
        )
    if budget.value > hi:
        raise UserError(
            f"budget {spec} = {budget.value:g} {unit} is above the dearest possible model ({hi:g} {unit} at "
            f"max bits); lower the budget to at most {hi:g} or raise --max-bits"
        )
    return budget


def resolve_budgets(spec: str | Sequence[str] | BudgetSpec, model: nn.Module, geometry: Sequence[LayerGeometry],
                    exact_weights: bool = False) -> BudgetSet:  # fmt: skip
    """Every constraint of ``spec`` (``lut=20000,latency:bismo=4e4`` or a parsed :class:`cost_models.BudgetSpec`)
    resolved and checked reachable, as :func:`resolve_budget`; ``exact_weights``: the set prices the hard model by
    its integer weights (:meth:`BudgetSet.bits`)."""
    parsed = BudgetSpec.parse(spec)
    return BudgetSet(tuple(resolve_budget(c, model, geometry) for c in parsed), exact_weights)


def fixed_bits_budgets(
    spec: str | Sequence[str] | BudgetSpec,
    model: nn.Module,
    geometry: Sequence[LayerGeometry],
    uniform_bits: int | None = None,
) -> BudgetSet:
    """For a run without search (uniform bits, plain QAT): each constraint's "budget" is the cost of the model's
    fixed bits, in its kind's unit (reported only); spec ``KIND=uB`` when weights and activations share the width
    ``uniform_bits``, else ``KIND=<value>``."""
    members = []
    for constraint in BudgetSpec.parse(spec):
        kind = constraint.kind
        cost = get_cost_model(kind)
        with torch.no_grad():
            value = float(cost(geometry, hard_bits(model)))
        label = f"u{uniform_bits}" if uniform_bits is not None else f"{value:g}"
        members.append(Budget(cost=cost, value=value, spec=f"{kind}={label}"))
    return BudgetSet(tuple(members))


HardCosts = float | Sequence[float]  # one cost per constraint (a float for a single budget)


class BudgetRegularizer:
    """``lambda * sum_k c_k * (C_k,soft / B_k)`` with ``c_k`` from the hard costs (:meth:`BudgetSet.coefficients`);
    for one budget ``lambda * ((C_hard - B) / B) * (C_soft / B)``, see the module docstring."""

    def __init__(self, budget: Budget | BudgetSet, strength: float) -> None:
        self.budgets = as_budget_set(budget)
        self.strength = float(strength)

    @property
    def budget(self) -> Budget:
        """The primary constraint."""
        return self.budgets.primary

    def hard_costs(self, geometry: Sequence[LayerGeometry], hard: dict[str, LayerBits]) -> tuple[float, ...]:
        return self.budgets.costs(geometry, hard)

    def coefficients(self, hard_cost: HardCosts) -> tuple[float, ...]:
        costs = (hard_cost,) if isinstance(hard_cost, (int, float)) else tuple(hard_cost)
        return self.budgets.coefficients(costs)

    def coefficient(self, hard_cost: HardCosts) -> float:
        """The summed coefficients: positive (prune) while a constraint is over, negative (grow) when all are under."""
        return float(sum(self.coefficients(hard_cost)))

    def __call__(
        self, geometry: Sequence[LayerGeometry], soft: dict[str, LayerBits], hard_cost: HardCosts
    ) -> torch.Tensor:
        """The term at the soft bits ``soft``; only the constraints with a non-zero coefficient are priced."""
        coefficients = self.coefficients(hard_cost)
        costs = [b.cost(geometry, soft) if c != 0.0 else None for c, b in zip(coefficients, self.budgets, strict=True)]
        return self.term(costs, hard_cost)

    def soft_costs(self, geometry: Sequence[LayerGeometry], soft: dict[str, LayerBits]) -> tuple[torch.Tensor, ...]:
        """Every constraint's cost at the soft bits ``soft`` (0-dim tensors in its unit, differentiable): the part of
        the term that ``torch.compile`` can take into the step's graph (the coefficients are Python floats that
        change whenever a hard bit does)."""
        return tuple(b.cost(geometry, soft) for b in self.budgets)

    def term(self, soft_costs: Sequence[torch.Tensor | None], hard_cost: HardCosts) -> torch.Tensor:
        """``lambda * sum_k c_k * C_k,soft / B_k`` from the constraints' soft costs (:meth:`soft_costs`; a cost whose
        coefficient is 0 is not read and may be None)."""
        term = torch.zeros((), dtype=torch.float64)
        for c, b, cost in zip(self.coefficients(hard_cost), self.budgets, soft_costs, strict=True):
            if c != 0.0:
                term = term + self.strength * c * cost / b.value
        return term


@dataclass(frozen=True)
class RepairStep:
    """One change: layer, ``"drop weight"``/``"add weight"``/``"drop act"``/``"add act"``, the weight bit position
    or the activation's new width, the mask logit that ranked it, and the exact cost after it (the primary
    constraint's; ``costs_after``: every constraint's)."""

    layer: str
    kind: str
    position: int
    logit: float
    cost_after: float
    loss_after: float | None = None
    costs_after: tuple[float, ...] = ()


def _exact_costs(model: nn.Module, geometry: Sequence[LayerGeometry], budgets: BudgetSet) -> tuple[float, ...]:
    return budgets.costs(geometry, budgets.bits(model))


def _moves(model: nn.Module, add: bool, every_position: bool = False) -> list[BitMove]:
    """Candidate single-bit changes of every CSQ layer, in module order (:meth:`CSQLayer.bit_moves`)."""
    return [m for name, layer in csq_layers(model) for m in layer.bit_moves(name, add, every_position)]


def _try(
    model: nn.Module, geometry: Sequence[LayerGeometry], budgets: BudgetSet, move: BitMove, loss_fn: LossFn | None
) -> tuple[tuple[float, ...], float | None]:
    """(exact costs, loss or None) after applying ``move``; the model is restored afterwards."""
    with _layer(model, move).trying(move):
        after = _exact_costs(model, geometry, budgets)
        loss = loss_fn() if loss_fn is not None else None
    return after, loss


def _layer(model: nn.Module, move: BitMove) -> CSQLayer:
    return getattr(model, "module", model).get_submodule(move.layer)  # the names csq_layers gives (DDP unwrapped)


def _step(move: BitMove, costs_after: tuple[float, ...], loss_after: float | None) -> RepairStep:
    return RepairStep(move.layer, move.label, move.target, move.logit, costs_after[0], loss_after, costs_after)


def _saving(budgets: BudgetSet, current: Sequence[float], after: Sequence[float]) -> float:
    """What a drop saves on the violated constraints, each relative to its budget."""
    return sum(max(current[k] - after[k], 0.0) / budgets.members[k].value for k in budgets.violated(current))


def _spent(budgets: BudgetSet, current: Sequence[float], after: Sequence[float]) -> float:
    """What an addition spends of the budget it strains most (relative)."""
    return max(max(a - c, 0.0) / b.value for c, a, b in zip(current, after, budgets, strict=True))


def repair_to_budget(
    model: nn.Module, geometry: Sequence[LayerGeometry], budget: Budget | BudgetSet, loss_fn: LossFn | None = None
) -> list[RepairStep]:
    """Drop least-useful bits until every exact cost is at or under its budget. Returns what was dropped.

    Least useful: with ``loss_fn`` (the task loss of the hard model on a fixed batch), the smallest loss increase per
    unit of cost saved on the violated constraints (each relative to its budget); without it, the smallest mask
    logit (ties: the larger saving).
    """
    budgets = as_budget_set(budget)
    steps: list[RepairStep] = []
    current = _exact_costs(model, geometry, budgets)
    base = loss_fn() if loss_fn is not None else None
    while not budgets.fits(current):
        moves = _moves(model, add=False, every_position=loss_fn is not None)
        if not moves:
            raise UserError(
                f"cannot reach the budget {budgets.spec}: every layer is at its minimum bits "
                f"({budgets.describe(current)}); raise the budget"
            )
        scored = []
        for m in moves:
            after, loss = _try(model, geometry, budgets, m, loss_fn)
            saving = _saving(budgets, current, after)
            per_saving = (loss - base) / saving if loss is not None and saving > 0 else float("inf")
            key = (m.logit, -saving) if loss is None else (per_saving, m.logit)
            scored.append((key, after, loss, m))
        _, after, loss, move = min(scored, key=lambda s: s[0])
        _layer(model, move).apply_move(move)
        steps.append(_step(move, after, loss))
        current, base = after, loss
    return steps


def fill_to_budget(
    model: nn.Module,
    geometry: Sequence[LayerGeometry],
    budget: Budget | BudgetSet,
    loss_fn: LossFn | None = None,
    spend_all: bool = False,
) -> list[RepairStep]:
    """The converse of :func:`repair_to_budget`, run once when the hard phase starts: while some single activation
    bit (or, for layers that fine-tune shadow weights, weight position) still fits under every budget, add the most
    useful one (plane-parametrised weight positions are not revived: see the module docstring). With ``loss_fn``:
    the largest loss decrease per unit of cost added (the budget it strains most, relative; never a bit that raises
    the loss, unless ``spend_all``; neutral ones by logit); without it: the largest gate logit.

    ``spend_all``: also add bits that raise the fixed-batch loss (the least harmful first), until nothing fits. For
    the straight-through fine-tune, which trains after the fill: a bit more precision is capacity the fine-tune can
    use, and the loss of the not yet fine-tuned model is a poor judge of it (measured on MNIST-1D: without it 1 of 18
    runs ended at 0.939 of its budget)."""
    budgets = as_budget_set(budget)
    steps: list[RepairStep] = []
    current = _exact_costs(model, geometry, budgets)
    base = loss_fn() if loss_fn is not None else None
    while True:
        fitting = []
        for m in _moves(model, add=True):
            after, loss = _try(model, geometry, budgets, m, loss_fn)
            if not budgets.fits(after):
                continue
            if loss is None:
                fitting.append(((-m.logit, after[0]), after, loss, m))
            elif loss <= base or spend_all:
                added = max(_spent(budgets, current, after), 1e-12)
                fitting.append((((loss - base) / added, -m.logit), after, loss, m))
        if not fitting:
            return steps
        _, after, loss, move = min(fitting, key=lambda s: s[0])
        _layer(model, move).apply_move(move)
        steps.append(_step(move, after, loss))
        current = after
        base = loss if loss is not None else base
