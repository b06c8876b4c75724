"""Evaluate several cost models at once: totals and per-layer tables for reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

from .base import LayerBits, LayerGeometry
from .registry import available, get_cost_model

__all__ = ["default_report_models", "all_costs"]


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
