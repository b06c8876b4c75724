"""Evaluate several cost models at once: totals and per-layer tables for reports.

``all_costs(geometry, bits)`` -> ``{name: total}``; ``per_layer_costs(geometry, bits)`` -> ``{name: {layer:
value}}``; ``cost_table(geometry, bits)`` -> a pandas DataFrame, one row per layer plus ``TOTAL``, one column per
model (``"name [unit]"``). These are what ``csq-hw cost``, the trainer's run report and the HLS backend print.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from .base import LayerBits, LayerGeometry
from .registry import available, get_cost_model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["default_report_models", "all_costs", "per_layer_costs", "cost_table"]


def default_report_models() -> list[str]:
    """Registered names that need no argument (``latency:table=PATH`` needs a path, so it is left out)."""
    return [n for n in available() if not n.endswith(("=", ":"))]


def all_costs(
    geometry: Sequence[LayerGeometry], bits: Mapping[str, LayerBits], names: Iterable[str] | None = None
) -> dict[str, float]:
    """``{model name: total cost}`` for every named (default: every argument-free registered) model."""
    out: dict[str, float] = {}
    with torch.no_grad():
        for name in names if names is not None else default_report_models():
            out[name] = float(get_cost_model(name)(geometry, bits))
    return out


def per_layer_costs(
    geometry: Sequence[LayerGeometry], bits: Mapping[str, LayerBits], names: Iterable[str] | None = None
) -> dict[str, dict[str, float]]:
    """``{model name: {layer name: cost}}`` (floats, no gradients)."""
    out: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        for name in names if names is not None else default_report_models():
            parts = get_cost_model(name).per_layer(geometry, bits)
            out[name] = {k: float(v) for k, v in parts.items()}
    return out


def cost_table(
    geometry: Sequence[LayerGeometry], bits: Mapping[str, LayerBits], names: Iterable[str] | None = None
) -> pd.DataFrame:
    """Per-layer table: index = layer names + ``TOTAL``; columns ``"name [unit]"``; plus geometry columns."""
    import pandas as pd

    names = list(names) if names is not None else default_report_models()
    rows: dict[str, dict[str, object]] = {
        g.name: {
            "op": g.op,
            "macs": g.macs,
            "w_bits": float(bits[g.name].weight),
            "a_bits": float(bits[g.name].act),
        }
        for g in geometry
        if g.name in bits
    }
    total: dict[str, object] = {"op": "", "macs": sum(g.macs for g in geometry), "w_bits": float("nan"),
                                "a_bits": float("nan")}  # fmt: skip
    with torch.no_grad():
        for name in names:
            model = get_cost_model(name)
            col = f"{name} [{model.unit}]"
            parts = model.per_layer(geometry, bits)
            for k, v in parts.items():
                rows[k][col] = float(v)
            total[col] = float(sum(float(v) for v in parts.values()))
    df = pd.DataFrame.from_dict({**rows, "TOTAL": total}, orient="index")
    df.index.name = "layer"
    return df
