"""Combined budgets: a weighted sum of cost models (itself a cost model), and several constraints at once.

* **Weighted sum** -- one scalar to steer to: ``WeightedSum([(1.0, bops), (0.5, lut)])``, or in a budget string
  ``bops+0.5*lut=2e5``. Its unit is the common unit of its terms, else ``"mixed"``: weights then carry the unit
  conversion (e.g. ``0.5`` BOP per LUT), so choose them deliberately, or normalise each term with
  :class:`Normalized` (``bops/u8`` divides BOPs by their value at uniform 8 bits, making the term unitless).
* **Several constraints at once** -- a list of :class:`~cost_models.budget_spec.Budget`, each ``KIND=VALUE``
  (``parse_budgets(["bops=2e5", "lut=3000"], geometry)``): a model meets them when every cost is at or under its
  value. The trainer takes one budget today; training against several at once is planned.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import BitsMap, CostError, CostModel, LayerBits, LayerGeometry

__all__ = ["WeightedSum", "Normalized", "parse_combination"]


class WeightedSum:
    """``sum_k weight_k * cost_k``; per layer likewise. A :class:`~cost_models.base.CostModel`."""

    def __init__(self, terms: Sequence[tuple[float, CostModel]], name: str | None = None) -> None:
        if not terms:
            raise CostError("a weighted sum needs at least one term")
        self.terms = [(float(w), c) for w, c in terms]
        self.name = name or "+".join(f"{w:g}*{c.name}" if w != 1 else c.name for w, c in self.terms)
        units = {c.unit for _, c in self.terms}
        self.unit = units.pop() if len(units) == 1 else "mixed"

    def per_layer(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for w, c in self.terms:
            for k, v in c.per_layer(geometry, bits).items():
                out[k] = out[k] + w * v if k in out else w * v
        return out

    def __call__(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> torch.Tensor:
        return sum(
            (w * c(geometry, bits) for w, c in self.terms[1:]), self.terms[0][0] * self.terms[0][1](geometry, bits)
        )

    def __repr__(self) -> str:
        return f"WeightedSum(name={self.name!r}, unit={self.unit!r})"


class Normalized:
    """``cost / cost(uniform reference bits)``: a unitless ratio (HAQ's ``_org_cost`` habit), reference cached."""

    def __init__(self, cost: CostModel, reference_bits: float = 8.0) -> None:
        self.cost = cost
        self.reference_bits = float(reference_bits)
        self.name = f"{cost.name}/u{reference_bits:g}"
        self.unit = "1"
        self._ref: dict[tuple[LayerGeometry, ...], float] = {}

    def _reference(self, geometry: Sequence[LayerGeometry]) -> float:
        key = tuple(geometry)
        if key not in self._ref:
            b = self.reference_bits
            bits = {g.name: LayerBits.uniform(b, b) for g in geometry}
            with torch.no_grad():
                ref = float(self.cost(geometry, bits))
            if not ref > 0:
                raise CostError(f"{self.name}: the reference cost at uniform {b:g} bits is {ref}; cannot normalise")
            self._ref[key] = ref
        return self._ref[key]

    def per_layer(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> dict[str, torch.Tensor]:
        ref = self._reference(geometry)
        return {k: v / ref for k, v in self.cost.per_layer(geometry, bits).items()}

    def __call__(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> torch.Tensor:
        return self.cost(geometry, bits) / self._reference(geometry)


def parse_combination(spec: str, lookup) -> CostModel:  # noqa: ANN001 - lookup: name -> CostModel
    """Parse ``a+0.5*b+c/u8`` into a :class:`WeightedSum` (or a single term), resolving names with ``lookup``."""
    terms: list[tuple[float, CostModel]] = []
    for raw in spec.split("+"):
        part = raw.strip()
        if not part:
            raise CostError(f"cost {spec!r}: empty term; write e.g. bops+0.5*lut")
        weight = 1.0
        if "*" in part:
            w_str, part = part.split("*", 1)
            try:
                weight = float(w_str)
            except ValueError:
                raise CostError(f"cost {spec!r}: weight {w_str!r} is not a number; write e.g. 0.5*lut") from None
        model: CostModel
        if "/u" in part:
            base, ref = part.rsplit("/u", 1)
            try:
                model = Normalized(lookup(base.strip()), float(ref))
            except ValueError:
                raise CostError(f"cost {spec!r}: {part!r} is not NAME/uN (e.g. bops/u8)") from None
        else:
            model = lookup(part)
        terms.append((weight, model))
    if len(terms) == 1 and terms[0][0] == 1.0:
        return terms[0][1]
    return WeightedSum(terms)
