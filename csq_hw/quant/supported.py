"""The layers csq-hw trains and exports, stated once, and the check that runs before any training starts.

Every model (zoo, parametric spec or a user's ``nn.Module``) is traced with ``torch.fx`` (what hls4ml's PyTorch
frontend does too); each module and function in the graph must be one of :data:`SUPPORTED`. Anything else is a
one-line :class:`UnsupportedLayerError` naming the module and this list, before the data loads or a warm start runs,
instead of a run that trains and then cannot be exported.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from csq_hw.errors import UserError

__all__ = ["SUPPORTED", "UnsupportedLayerError", "check_supported"]

#: what the trainer and the HLS export handle (the error message for anything else names these)
SUPPORTED = (
    "Linear, Conv1d, Conv2d (groups=1, zero padding), ReLU, MaxPool1d/2d, AvgPool1d/2d (power-of-two window), "
    "AdaptiveAvgPool2d(1), BatchNorm1d/2d (folded into an exact affine), Flatten, Identity, Dropout, residual add; "
    "before the first Linear/Conv only Flatten, Identity, Dropout"
)

_MODULES = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.ReLU, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.Flatten, nn.Identity, nn.Dropout,
)  # fmt: skip
_MACS = (nn.Linear, nn.Conv1d, nn.Conv2d)
_RESHAPES = (nn.Flatten, nn.Identity, nn.Dropout)
_FUNCTIONS = (operator.add, torch.add, torch.relu, F.relu, torch.flatten)
_METHODS = ("add", "relu", "flatten")


class UnsupportedLayerError(UserError):
    """A module or function that csq-hw cannot quantize exactly or export."""


def _module_problem(m: nn.Module) -> str | None:
    if not isinstance(m, _MODULES):
        return "is not supported"
    if isinstance(m, (nn.Conv1d, nn.Conv2d)) and (m.groups != 1 or isinstance(m.padding, str) and m.padding != "valid"):
        return "is supported with groups=1 and numeric zero padding only"
    if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1):
        return "is supported as Flatten(start_dim=1) only"
    return None


def check_supported(model: nn.Module, what: str = "the model") -> None:
    """Trace ``model`` with torch.fx and refuse any module or function outside :data:`SUPPORTED`.

    Raises:
        UnsupportedLayerError: naming the first offending module (its name and type) or function.
    """
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as exc:  # noqa: BLE001 - any tracing failure: data-dependent control flow, unsupported ops
        first = " ".join(str(exc).split())[:160]
        raise UnsupportedLayerError(
            f"{what} cannot be traced by torch.fx ({type(exc).__name__}: {first}); hls4ml's frontend needs a "
            f"traceable forward (no data-dependent Python control flow); supported: {SUPPORTED}"
        ) from None
    seen_layer = False  # before the first Linear/Conv only reshapes: the input is quantized at that layer
    for node in graph.nodes:
        if node.op == "call_module":
            m = model.get_submodule(str(node.target))
            problem = _module_problem(m)
            if not problem and not seen_layer and not isinstance(m, (*_MACS, *_RESHAPES)):
                problem = "comes before the first Linear/Conv layer, where only Flatten, Identity or Dropout may"
            seen_layer = seen_layer or isinstance(m, _MACS)
            if problem:
                raise UnsupportedLayerError(f"{what}: module {node.target!r} ({type(m).__name__}) {problem}; "
                                            f"supported: {SUPPORTED}")  # fmt: skip
        elif (
            node.op in ("call_function", "call_method")
            and not seen_layer
            and node.target not in (torch.flatten, "flatten")
        ):
            raise UnsupportedLayerError(f"{what}: {getattr(node.target, '__name__', node.target)!r} is applied before "
                                        "the first Linear/Conv layer, where only Flatten, Identity or Dropout may; "
                                        f"supported: {SUPPORTED}")  # fmt: skip
        elif node.op == "call_function" and node.target not in _FUNCTIONS:
            name = getattr(node.target, "__name__", str(node.target))
            raise UnsupportedLayerError(f"{what}: function {name!r} is not supported; supported: {SUPPORTED}")
        elif node.op == "call_method" and node.target not in _METHODS:
            raise UnsupportedLayerError(f"{what}: method .{node.target}() is not supported; supported: {SUPPORTED}")
        elif node.op == "get_attr":
            raise UnsupportedLayerError(f"{what}: the forward reads the tensor {node.target!r} directly (a bare "
                                        f"Parameter or buffer); only layers are supported: {SUPPORTED}")  # fmt: skip
