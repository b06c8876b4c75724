"""csq-hw: CSQ mixed-precision training under hardware budgets (Xiao et al., DAC 2023).

Quick use (docs/api.md)::

    import csq_hw
    run = csq_hw.fit(my_net, train_loader, test_loader, budget="lut=20000", epochs=30, out="runs/mine")
    qmodel = csq_hw.prepare(my_net, input_shape=(16,), budget="bops=2e5", epochs=30)  # your own loop
    cfg = csq_hw.TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u3")
    summary = csq_hw.train_run(cfg, "runs/digits")      # writes precisions.json, exact_model.pt, summary.json

This package never imports hls4ml (the HLS backend lives in the ``hls`` package).
"""

from csq_hw.api import LoadedRun, fit, load_run
from csq_hw.errors import UserError
from csq_hw.quant.act_quant import ActQuant
from csq_hw.quant.bitplane_weight import BitPlaneWeight
from csq_hw.quant.convert import QuantConfig, convert
from csq_hw.quant.exact import ExactAffine, ExactQuantLayer, FixedPointQuant, build_exact_model
from csq_hw.quant.finalize import precisions_dict, to_exact
from csq_hw.quant.layer_bits import average_bits, hard_bits, soft_bits
from csq_hw.quant.layers import CSQConv1d, CSQConv2d, CSQLayer, CSQLinear, csq_layers, set_phase, set_temperature
from csq_hw.train.budget import BudgetRegularizer, fill_to_budget, repair_to_budget, resolve_budget, resolve_budgets
from csq_hw.train.budget_set import BudgetSet
from csq_hw.train.config import TrainConfig, load_config
from csq_hw.train.csq_model import CSQModel, finalize, prepare, save_run
from csq_hw.train.train_run import train_run
from csq_hw.zoo.models import MODELS, build_model, model_info

__version__ = "0.1.0"

__all__ = [
    "CSQModel",
    "finalize",
    "prepare",
    "save_run",
    "LoadedRun",
    "fit",
    "load_run",
    "ActQuant",
    "BitPlaneWeight",
    "BudgetRegularizer",
    "BudgetSet",
    "CSQConv1d",
    "CSQConv2d",
    "CSQLayer",
    "CSQLinear",
    "ExactAffine",
    "ExactQuantLayer",
    "FixedPointQuant",
    "MODELS",
    "QuantConfig",
    "TrainConfig",
    "UserError",
    "average_bits",
    "build_exact_model",
    "build_model",
    "convert",
    "csq_layers",
    "fill_to_budget",
    "hard_bits",
    "load_config",
    "model_info",
    "precisions_dict",
    "repair_to_budget",
    "resolve_budget",
    "resolve_budgets",
    "set_phase",
    "set_temperature",
    "soft_bits",
    "to_exact",
    "train_run",
]
