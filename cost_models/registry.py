"""Registry of cost models by name, and ``KIND=VALUE`` budget strings.

Names map to factories ``(argument: str | None) -> CostModel``; a name with a colon (``latency:bismo``,
``latency:table=PATH``) passes what follows the prefix as the argument when the exact name is not registered.

Budget strings: ``KIND=VALUE`` where VALUE is absolute in the model's unit (``size=20000``) or ``uN``, the cost of
the same model at uniform N-bit weights and activations (``size=u3``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .base import CostError, CostModel, LayerBits, LayerGeometry

__all__ = [
    "register",
    "get_cost_model",
    "available",
    "Budget",
    "parse_budget",
    "uniform_bits",
    "split_budget_spec",
    "parse_budgets",
]

_FACTORIES: dict[str, Callable[[str | None], CostModel]] = {}


def register(name: str, factory: Callable[[str | None], CostModel]) -> None:
    """Register ``factory`` under ``name`` (a prefix ending in ':' takes an argument, e.g. ``'latency:table='``)."""
    _FACTORIES[name] = factory


def available() -> list[str]:
    """Registered names, sorted."""
    _load_builtins()
    return sorted(_FACTORIES)


def get_cost_model(name: str) -> CostModel:
    """The cost model registered as ``name``; raises :class:`CostError` naming the known ones otherwise.

    ``a+0.5*b`` (a weighted sum) and ``a/u8`` (normalised by the cost at uniform 8 bits) combine registered names;
    see :mod:`cost_models.combine`.
    """
    _load_builtins()
    name = name.strip()
    combined = "+" in name or "*" in name or "/u" in name
    if combined and name not in _FACTORIES and not name.startswith("latency:table="):
        from .combine import parse_combination

        return parse_combination(name, _get_single)
    return _get_single(name)


def _get_single(name: str) -> CostModel:
    name = name.strip()
    if name in _FACTORIES:
        return _FACTORIES[name](None)
    # longest matching prefix first, so "latency:table=" wins over "latency:"
    for key in sorted(_FACTORIES, key=len, reverse=True):
        if key.endswith(("=", ":")) and name.startswith(key) and len(name) > len(key):
            return _FACTORIES[key](name[len(key) :])
    close = difflib.get_close_matches(name, available(), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise CostError(f"unknown cost kind {name!r}; {hint}choose one of: {', '.join(available())}")


def uniform_bits(
    geometry: Sequence[LayerGeometry], w_bits: float, a_bits: float, bias_bits: float = 0.0
) -> dict[str, LayerBits]:
    """Uniform ``w_bits``/``a_bits`` for every layer (float64 tensors)."""
    return {g.name: LayerBits.uniform(w_bits, a_bits, bias_bits) for g in geometry}


def split_budget_spec(spec: str) -> tuple[str, str]:
    """Split ``KIND=VALUE`` at the last '=' (kinds such as ``latency:table=PATH`` contain one)."""
    if "=" not in spec:
        raise CostError(f"budget {spec!r} is not KIND=VALUE; write e.g. size=u3 or bops=2e5")
    kind, value = spec.rsplit("=", 1)
    if not kind or not value:
        raise CostError(f"budget {spec!r} is not KIND=VALUE; write e.g. size=u3 or bops=2e5")
    return kind.strip(), value.strip()


@dataclass(frozen=True)
class Budget:
    """A resolved budget: a cost model and a target value in its unit."""

    cost: CostModel
    value: float
    spec: str


def parse_budget(
    spec: str,
    geometry: Sequence[LayerGeometry],
    bits_at: Callable[[float, float], dict[str, LayerBits]] | None = None,
) -> Budget:
    """Resolve ``KIND=VALUE`` against a model's geometry.

    Args:
        spec: e.g. ``"size=20000"``, ``"size=u3"``, ``"bops=2e5"``.
        geometry: the model's traced layers.
        bits_at: ``(w_bits, a_bits) -> bits map`` used for ``uN`` values (lets the caller fix bias bits and
            signedness); defaults to :func:`uniform_bits` without biases.
    """
    kind, value = split_budget_spec(spec)
    cost = get_cost_model(kind)
    if value.lower().startswith("u"):
        try:
            n = float(value[1:])
        except ValueError:
            raise CostError(f"budget value {value!r} is not a number or uN (e.g. u3)") from None
        if not n > 0:
            raise CostError(f"budget value {value!r}: N in uN must be positive")
        bits = bits_at(n, n) if bits_at is not None else uniform_bits(geometry, n, n)
        with torch.no_grad():
            target = float(cost(geometry, bits))
    else:
        try:
            target = float(value)
        except ValueError:
            raise CostError(f"budget value {value!r} is not a number or uN (e.g. u3)") from None
    if not (target > 0 and target < float("inf")):
        raise CostError(f"budget {spec!r} resolves to {target}; give a positive, finite value")
    return Budget(cost=cost, value=target, spec=spec)


def parse_budgets(
    specs: Sequence[str],
    geometry: Sequence[LayerGeometry],
    bits_at: Callable[[float, float], dict[str, LayerBits]] | None = None,
) -> list[Budget]:
    """Parse several constraints at once: one :class:`Budget` per ``KIND=VALUE``, each resolved as
    :func:`parse_budget` does (a model meets them when every cost is at or under its value).

    The trainer takes several the same way (``--budget lut=20000,latency:bismo=4e4``, resolved and checked per
    constraint by ``csq_hw.train.budget.resolve_budgets``).
    """
    return [parse_budget(s, geometry, bits_at) for s in specs]


_LOADED = False


def _load_builtins() -> None:
    """Register the shipped models (:data:`cost_models.shipped_models.SHIPPED`) on first use, under user ones."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from .shipped_models import SHIPPED

    for name, factory in SHIPPED.items():
        _FACTORIES.setdefault(name, factory)
