"""The CSQ model of a run's config: the float model converted (seeded), its geometry traced and its budget resolved.

Both loops build it here: ``csq-hw train`` (:mod:`csq_hw.train.train_run`) and ``prepare``
(:mod:`csq_hw.train.csq_model`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from cost_models import trace_geometry
from csq_hw.quant.convert import convert
from csq_hw.quant.layers import csq_layers
from csq_hw.train.budget import fixed_bits_budgets, resolve_budgets
from csq_hw.train.budget_set import prices_weights
from csq_hw.train.config import TrainConfig
from csq_hw.zoo.models import build_model, full_precision_for, input_shape_for

__all__ = ["build_csq_model", "seed_all"]


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_csq_model(
    cfg: TrainConfig,
    float_model: torch.nn.Module | None = None,
    input_shape: tuple[int, ...] | None = None,
    full_precision: tuple[str, ...] | None = None,
    factory: Callable[[], torch.nn.Module] | None = None,
) -> tuple[torch.nn.Module, list, Any]:
    """The CSQ model (seeded), its geometry and the resolved budget for ``cfg``.

    ``float_model``: start from these float weights (e.g. after :func:`csq_hw.train.pretrain.pretrain_float`, or a
    user's module) instead of a fresh model from ``factory`` (default: the zoo's builder, seeded); ``input_shape``
    and ``full_precision`` default to the zoo's.
    """
    seed_all(cfg.train.seed)
    if float_model is None:
        float_model = factory() if factory is not None else build_model(cfg.model.name, **cfg.model.kwargs)
    if full_precision is None:
        full_precision = full_precision_for(cfg.model.name, cfg.model.kwargs)
    model = convert(float_model.cpu(), cfg.quant_config(full_precision))
    names = {n for n, _ in csq_layers(model)}
    shape = input_shape or input_shape_for(cfg.model.name, cfg.model.kwargs)
    geometry = trace_geometry(model, shape, include=lambda n, _m: n in names)
    if cfg.searched:
        exact = prices_weights(cfg.budget.parsed, cfg.budget.pricing)
        return model, geometry, resolve_budgets(cfg.budget.parsed, model, geometry, exact)
    same = cfg.quant.act_bits == cfg.quant.max_bits
    budget = fixed_bits_budgets(cfg.budget.parsed, model, geometry, cfg.quant.max_bits if same else None)
    return model, geometry, budget
