"""The budget grammar, in one place: ``--budget`` text into a typed :class:`BudgetSpec`, parsed once.

Grammar (docs/cost_models.md)::

    budget     := constraint ((";" | ",") constraint)*
    constraint := KIND "=" VALUE
    KIND       := a registered cost name, with options after a colon (``latency:bismo,b16``, ``latency:table=PATH``)
    VALUE      := a positive number in the cost's unit (``2e5``) | "u" N (the cost at uniform N-bit weights and
                  activations, N > 0)

A comma inside a kind's options stays with it: a constraint ends only at its ``=VALUE``, so a piece without ``=``
belongs to the next one. The value follows the *last* ``=`` (``latency:table=PATH=4e4``). A list (a TOML array) is
taken as the constraints themselves. Each kind may appear once.

Parsing checks the grammar only; which kinds exist is the registry's (:meth:`BudgetSpec.check_kinds`), and what a
``uN`` value costs depends on the model (:meth:`Constraint.resolve`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from .base import CostError, CostModel, LayerBits, LayerGeometry
from .registry import get_cost_model, uniform_bits

__all__ = ["Constraint", "BudgetSpec", "Budget", "parse_budget", "parse_budgets", "split_budget_spec"]

_EXAMPLE = "write e.g. size=u3, bops=2e5 or lut=20000,latency:bismo=4e4"


@dataclass(frozen=True)
class Budget:
    """A resolved budget: a cost model (:class:`cost_models.CostModel`) and a target ``value`` in its unit; ``spec``
    the constraint as written (``size=u3``)."""

    cost: CostModel
    value: float
    spec: str


@dataclass(frozen=True)
class Constraint:
    """One ``KIND=VALUE``: the cost ``kind`` (``lut``, ``latency:bismo,b16``), ``value`` (a number in the cost's
    unit, or N of ``uN`` when ``uniform``) and the ``text`` as written (stripped: ``str()`` gives it back)."""

    kind: str
    value: float
    uniform: bool
    text: str

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """``"size=u3"`` -> ``Constraint("size", 3.0, uniform=True)``; a :class:`CostError` naming the problem."""
        if "=" not in text:
            raise CostError(f"budget {text!r} is not KIND=VALUE; {_EXAMPLE}")
        kind, raw = (part.strip() for part in text.rsplit("=", 1))
        if not kind or not raw:
            raise CostError(f"budget {text!r} is not KIND=VALUE; {_EXAMPLE}")
        uniform = raw[0] in "uU"
        try:
            value = float(raw[1:] if uniform else raw)
        except ValueError:
            raise CostError(f"budget value {raw!r} is not a number or uN (e.g. u3)") from None
        if uniform and not value > 0:
            raise CostError(f"budget value {raw!r}: N in uN must be positive")
        if not uniform and not 0 < value < float("inf"):
            raise CostError(f"budget {text!r} resolves to {value}; give a positive, finite value")
        return cls(kind, value, uniform, f"{kind}={raw}")

    @property
    def value_text(self) -> str:
        """The value as written: ``u3``, ``2e5``."""
        return self.text.rsplit("=", 1)[1]

    @property
    def family(self) -> str:
        """The kind before its options: ``latency`` for ``latency:bismo,b16``."""
        return self.kind.split(":", 1)[0]

    def __str__(self) -> str:
        return self.text

    def resolve(
        self,
        geometry: Sequence[LayerGeometry],
        bits_at: Callable[[float, float], dict[str, LayerBits]] | None = None,
    ) -> Budget:
        """This constraint against a model's ``geometry``: its cost model and target value. ``bits_at``: ``(w_bits,
        a_bits) -> bits map`` for ``uN`` (lets the caller fix bias bits and signedness; default: uniform bits
        without biases)."""
        cost = get_cost_model(self.kind)
        target = self.value
        if self.uniform:
            n = self.value
            bits = bits_at(n, n) if bits_at is not None else uniform_bits(geometry, n, n)
            with torch.no_grad():
                target = float(cost(geometry, bits))
            if not 0 < target < float("inf"):
                raise CostError(f"budget {self} resolves to {target}; give a positive, finite value")
        return Budget(cost=cost, value=target, spec=str(self))


@dataclass(frozen=True)
class BudgetSpec:
    """The constraints of one ``--budget`` (at least one, each kind once); ``constraints[0]`` is the primary one.
    ``str()`` gives the canonical text (``;``-separated), which parses back to an equal spec."""

    constraints: tuple[Constraint, ...]

    @classmethod
    def parse(cls, spec: str | Sequence[str] | BudgetSpec) -> BudgetSpec:
        """``"lut=20000,latency:bismo,b16=4e4"`` (or a list of constraints, or a spec) -> a :class:`BudgetSpec`."""
        if isinstance(spec, BudgetSpec):
            return spec
        pieces = list(spec) if not isinstance(spec, str) else [p for part in spec.split(";") for p in part.split(",")]
        texts: list[str] = []
        pending = ""
        for raw in pieces:
            piece = str(raw).strip()
            if not piece:
                continue
            pending = f"{pending},{piece}" if pending else piece
            if "=" in piece:
                texts.append(pending)
                pending = ""
        if pending or not texts:
            raise CostError(f"budget {spec!r}: every constraint is KIND=VALUE; {_EXAMPLE}")
        constraints = tuple(Constraint.parse(t) for t in texts)
        kinds = [c.kind for c in constraints]
        twice = sorted({k for k in kinds if kinds.count(k) > 1})
        if twice:
            raise CostError(f"budget {spec!r} constrains {', '.join(twice)} twice; give each cost once")
        return cls(constraints)

    @property
    def primary(self) -> Constraint:
        return self.constraints[0]

    def has_family(self, family: str) -> bool:
        """Whether some constraint's kind is ``family`` (with or without options)."""
        return any(c.family == family for c in self.constraints)

    def check_kinds(self) -> None:
        """Every kind is a registered cost model (:class:`CostError` naming the known ones otherwise)."""
        for c in self.constraints:
            get_cost_model(c.kind)

    def __iter__(self) -> Iterator[Constraint]:
        return iter(self.constraints)

    def __len__(self) -> int:
        return len(self.constraints)

    def __str__(self) -> str:
        return ";".join(str(c) for c in self.constraints)


def split_budget_spec(spec: str) -> tuple[str, str]:
    """Split ``KIND=VALUE`` at the last '=' (kinds such as ``latency:table=PATH`` contain one); the grammar is
    :mod:`cost_models.budget_spec`'s."""
    c = Constraint.parse(spec)
    return c.kind, c.value_text


def parse_budget(
    spec: str,
    geometry: Sequence[LayerGeometry],
    bits_at: Callable[[float, float], dict[str, LayerBits]] | None = None,
) -> Budget:
    """Resolve ``KIND=VALUE`` against a model's geometry (:meth:`cost_models.budget_spec.Constraint.resolve`).

    Args:
        spec: e.g. ``"size=20000"``, ``"size=u3"``, ``"bops=2e5"``.
        geometry: the model's traced layers.
        bits_at: ``(w_bits, a_bits) -> bits map`` used for ``uN`` values (lets the caller fix bias bits and
            signedness); defaults to :func:`cost_models.registry.uniform_bits` without biases.
    """
    return Constraint.parse(spec).resolve(geometry, bits_at)


def parse_budgets(
    specs: str | Sequence[str] | BudgetSpec,
    geometry: Sequence[LayerGeometry],
    bits_at: Callable[[float, float], dict[str, LayerBits]] | None = None,
) -> list[Budget]:
    """Parse several constraints at once (``"bops=2e5,lut=3000"``, a list, or a :class:`BudgetSpec`): one
    :class:`Budget` per constraint, each resolved as :func:`parse_budget` does (a model meets them when every cost
    is at or under its value).

    The trainer takes several the same way (``--budget lut=20000,latency:bismo=4e4``, resolved and checked per
    constraint by ``csq_hw.train.budget.resolve_budgets``).
    """
    return [c.resolve(geometry, bits_at) for c in BudgetSpec.parse(specs)]
