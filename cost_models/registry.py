"""Registry of cost models by name.

Names map to factories ``(argument: str | None) -> CostModel``; a name with a colon (``latency:bismo``,
``latency:table=PATH``) passes what follows the prefix as the argument when the exact name is not registered.

Budget strings (``KIND=VALUE``) are :mod:`cost_models.budget_spec`'s.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from .base import CostError, CostModel, LayerBits, LayerGeometry

__all__ = [
    "register",
    "get_cost_model",
    "available",
    "uniform_bits",
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
