"""Per-layer memory regimes of an accelerator latency model: which term binds, and every term, as a table.

``regime_table(cost, geometry, bits)`` -> a pandas DataFrame, one row per layer plus ``TOTAL``: ``op``, ``groups``,
``w_bits``, ``a_bits``, the terms of :mod:`cost_models.bitserial` in the cost's unit (``compute``, ``fill``,
``weight``, ``activation``, ``total``), how often weights and inputs cross the interface, and the ``regime``
(``compute``, ``weight``, ``activation``). ``total`` equals the cost model's per-layer value. What ``csq-hw cost
--regimes``, ``benchmarks/bitserial_regimes.py`` and :func:`csq_hw.plots.plot_layer_regimes` show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from .base import CostError, CostModel, LayerBits, LayerGeometry
from .bitserial import REGIMES
from .latency import AcceleratorLatency
from .registry import get_cost_model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["REGIMES", "TERM_COLUMNS", "regime_table", "regime_counts", "accelerator_models"]

#: the cycle-valued columns of :func:`regime_table`, in order (names without the unit)
TERM_COLUMNS = ("compute", "fill", "weight", "activation", "total")


def accelerator_models(names: Iterable[str]) -> list[AcceleratorLatency]:
    """The :class:`~cost_models.latency.AcceleratorLatency` models among registry ``names`` (others skipped)."""
    out = []
    for name in names:
        model: CostModel = get_cost_model(name)
        if isinstance(model, AcceleratorLatency):
            out.append(model)
    return out


def regime_table(
    cost: AcceleratorLatency | str, geometry: Sequence[LayerGeometry], bits: Mapping[str, LayerBits]
) -> pd.DataFrame:
    """Per-layer latency terms and regime of ``cost`` (a model or a ``latency:ACCELERATOR,...`` name).

    Columns: ``op``, ``groups``, ``w_bits``, ``a_bits``, ``"compute [unit]"``, ``"fill [unit]"``,
    ``"weight [unit]"``, ``"activation [unit]"``, ``"total [unit]"``, ``weight_loads``, ``input_passes``,
    ``regime``. Index: layer names, then ``TOTAL`` (sums of the terms; bits, loads and regime undefined: NaN/None).
    """
    import pandas as pd

    model = get_cost_model(cost) if isinstance(cost, str) else cost
    if not isinstance(model, AcceleratorLatency):
        raise CostError(f"{model.name!r} is not an accelerator latency model; regimes need latency:ACCELERATOR")
    terms = model.layer_terms(geometry, bits)
    unit = model.unit
    rows: dict[str, dict[str, object]] = {}
    for g in geometry:
        t = terms[g.name]
        values = {"compute": t.compute, "fill": t.fill, "weight": t.weight, "activation": t.activation,
                  "total": t.total}  # fmt: skip
        rows[g.name] = {
            "op": g.op,
            "groups": g.groups,
            "w_bits": float(bits[g.name].weight),
            "a_bits": float(bits[g.name].act),
            **{f"{k} [{unit}]": float(values[k]) for k in TERM_COLUMNS},
            "weight_loads": float(t.weight_loads),
            "input_passes": float(t.input_passes),
            "regime": str(t.regime),
        }
    total: dict[str, object] = {"op": "", "groups": float("nan"), "w_bits": float("nan"), "a_bits": float("nan")}
    for k in TERM_COLUMNS:
        total[f"{k} [{unit}]"] = float(sum(float(r[f"{k} [{unit}]"]) for r in rows.values()))  # type: ignore[arg-type]
    total.update({"weight_loads": float("nan"), "input_passes": float("nan"), "regime": None})
    df = pd.DataFrame.from_dict({**rows, "TOTAL": total}, orient="index")
    df.index.name = "layer"
    return df


def regime_counts(table: pd.DataFrame) -> dict[str, int]:
    """``{regime: number of layers}`` of a :func:`regime_table` (every regime listed, zeros included)."""
    counts = Counter(str(r) for r in table["regime"] if r is not None and r == r)
    return {r: counts.get(r, 0) for r in REGIMES}
