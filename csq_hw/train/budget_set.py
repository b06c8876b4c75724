"""Several hardware constraints at once: ``--budget lut=20000,latency:bismo=4e4`` (or a TOML list).

A :class:`BudgetSet` holds one :class:`cost_models.Budget` per constraint; a model meets it when every cost is at
or under its value. The first constraint is the *primary* one: ``summary.json``'s ``budget``/``final_cost`` and the
sweep tables name it; every constraint is reported in ``budgets``.

The budget term gives every constraint its own coefficient (:meth:`BudgetSet.coefficients`): while some constraint
is over its budget, each such constraint prunes with ``(C_k - B_k) / B_k > 0`` and the others are silent; when all
are under, only the tightest one (the largest ``(C_k - B_k) / B_k``, i.e. the least relative slack) rewards growth,
so that growing never pushes another constraint over. The repair counts the savings on the violated constraints,
the fill adds only what keeps every constraint satisfied (:mod:`csq_hw.train.budget`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from cost_models import Budget, BudgetSpec, CostModel, LayerBits, LayerGeometry
from csq_hw.errors import UserError
from csq_hw.quant.layer_bits import hard_bits

__all__ = ["BudgetSet", "as_budget_set", "prices_weights"]


def prices_weights(spec: BudgetSpec, pricing: str | None) -> bool:
    """Whether the trainer prices its hard model by the integer weights (``pricing = "weights"``; unset: when a
    constraint is EBOPs, whose per-weight widths a layer's span overstates 2-3 fold: docs/results_suite.md)."""
    if pricing is not None:
        return pricing == "weights"
    return spec.has_family("ebops")


@dataclass(frozen=True)
class BudgetSet:
    """The constraints of one run (at least one); ``members[0]`` is the primary one."""

    members: tuple[Budget, ...]
    exact_weights: bool = False  # price the hard model by its integer weights (``[budget] pricing = "weights"``)

    def __post_init__(self) -> None:
        if not self.members:
            raise UserError("a budget needs at least one constraint KIND=VALUE")

    @property
    def primary(self) -> Budget:
        return self.members[0]

    @property
    def value(self) -> float:
        """The primary constraint's budget (in its unit), as for a single :class:`cost_models.Budget`."""
        return self.primary.value

    @property
    def cost(self) -> CostModel:
        """The primary constraint's cost model, as for a single :class:`cost_models.Budget`."""
        return self.primary.cost

    @property
    def spec(self) -> str:
        """The constraints as one ``--budget`` value (``;``-separated when there are several)."""
        return ";".join(b.spec for b in self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self):  # noqa: ANN204 - an iterator of Budget
        return iter(self.members)

    def bits(self, model: nn.Module) -> dict[str, LayerBits]:
        """The hard model's bits as this set prices them: widths, with the integer weights when ``exact_weights``
        (:func:`csq_hw.quant.layer_bits.hard_bits`)."""
        return hard_bits(model, with_values=self.exact_weights)

    def costs(self, geometry: Sequence[LayerGeometry], bits: dict[str, LayerBits]) -> tuple[float, ...]:
        """Each constraint's cost of ``bits`` (exact at integer bits), in its unit."""
        with torch.no_grad():
            return tuple(float(b.cost(geometry, bits)) for b in self.members)

    def ratios(self, costs: Sequence[float]) -> tuple[float, ...]:
        """``C_k / B_k`` per constraint."""
        return tuple(c / b.value for c, b in zip(costs, self.members, strict=True))

    def fits(self, costs: Sequence[float]) -> bool:
        return all(c <= b.value for c, b in zip(costs, self.members, strict=True))

    def violated(self, costs: Sequence[float]) -> list[int]:
        """Indices of the constraints over their budget."""
        return [k for k, (c, b) in enumerate(zip(costs, self.members, strict=True)) if c > b.value]

    def coefficients(self, hard_costs: Sequence[float]) -> tuple[float, ...]:
        """Per constraint, its coefficient in the budget term (see the module docstring)."""
        rel = [(c - b.value) / b.value for c, b in zip(hard_costs, self.members, strict=True)]
        if any(r > 0 for r in rel):
            return tuple(r if r > 0 else 0.0 for r in rel)
        tightest = max(range(len(rel)), key=lambda k: rel[k])
        return tuple(r if k == tightest else 0.0 for k, r in enumerate(rel))

    def describe(self, costs: Sequence[float]) -> str:
        """``lut 19,800 / 20,000 LUT, latency:bismo 41,000 / 40,000 cycle`` for messages."""
        return ", ".join(f"{b.cost.name} {c:,.6g} / {b.value:,.6g} {b.cost.unit}".rstrip()
                         for c, b in zip(costs, self.members, strict=True))  # fmt: skip


def as_budget_set(budget: Budget | BudgetSet | Iterable[Budget]) -> BudgetSet:
    """A :class:`BudgetSet` from one budget, a set, or a sequence of budgets."""
    if isinstance(budget, BudgetSet):
        return budget
    if isinstance(budget, Budget):
        return BudgetSet((budget,))
    return BudgetSet(tuple(budget))
