"""Per-layer geometry traced once from a model (one forward pass of batch size 1, through forward hooks).

A module is a *quantized layer* when it is an ``nn.Linear``/``nn.Conv1d``/``nn.Conv2d`` or duck-types one:
it has ``in_features``/``out_features`` (linear) or ``in_channels``/``out_channels``/``kernel_size`` (conv),
and a ``weight`` whose rank tells the op (2: linear, 3: conv1d, 4: conv2d). ``include`` narrows the set.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .base import CostError, LayerGeometry

__all__ = ["trace_geometry", "is_weight_layer"]


def _op_kind(m: nn.Module) -> str | None:
    w = getattr(m, "weight_shape", None)
    if w is None:
        weight = getattr(m, "weight", None)
        if not isinstance(weight, torch.Tensor):
            return None
        w = tuple(weight.shape)
    if hasattr(m, "in_features") and hasattr(m, "out_features") and len(w) == 2:
        return "linear"
    if hasattr(m, "in_channels") and hasattr(m, "kernel_size"):
        return {3: "conv1d", 4: "conv2d"}.get(len(w))
    return None


def _valid_macs(m: nn.Module, x: torch.Tensor, kernel: tuple[int, ...], cout: int, cin_per_group: int) -> int:
    """Products whose input is not padding: a ones-convolution of a ones input, times the channel counts."""
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d}[len(kernel)]
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=torch.float64)
    try:
        hits = conv(
            ones,
            torch.ones((1, 1, *kernel), dtype=torch.float64),
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
        )
    except (AttributeError, TypeError, RuntimeError):  # duck-typed layer without conv attributes
        return -1
    return int(round(float(hits.sum()))) * cout * cin_per_group


def is_weight_layer(m: nn.Module) -> bool:
    """True for Linear/Conv1d/Conv2d modules and modules that duck-type them."""
    return _op_kind(m) is not None


def trace_geometry(
    model: nn.Module,
    input_shape: tuple[int, ...],
    include: Callable[[str, nn.Module], bool] | None = None,
) -> list[LayerGeometry]:
    """Trace the geometry of every weight layer of ``model`` in forward order.

    Args:
        model: any torch module.
        input_shape: one sample's shape, without batch (e.g. ``(16,)``, ``(1, 8, 8)``).
        include: optional predicate ``(name, module) -> bool`` selecting the layers to report.

    Returns:
        One :class:`LayerGeometry` per selected layer, in the order the forward pass reaches them.
    """
    records: list[LayerGeometry] = []
    handles = []
    seen: set[str] = set()

    def make_hook(name: str, m: nn.Module, op: str):
        def hook(_mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
            if name in seen:
                raise CostError(
                    f"layer {name!r} is called twice in one forward pass; geometry needs one call per layer"
                )
            seen.add(name)
            x = args[0]
            in_shape = tuple(int(d) for d in x.shape[1:])
            out_shape = tuple(int(d) for d in out.shape[1:])
            w_shape = tuple(getattr(m, "weight_shape", None) or m.weight.shape)
            if op == "linear":
                kernel: tuple[int, ...] = ()
                cin, cout, groups = int(m.in_features), int(m.out_features), 1
            else:
                kernel = tuple(int(k) for k in w_shape[2:])
                cin, cout, groups = int(m.in_channels), int(m.out_channels), int(getattr(m, "groups", 1))
            fan_in = (cin // groups) * math.prod(kernel)
            n_out = math.prod(out_shape)
            has_bias = getattr(m, "bias", None) is not None
            valid = n_out * fan_in if op == "linear" else _valid_macs(m, x, kernel, cout, cin // groups)
            records.append(
                LayerGeometry(
                    name=name,
                    op=op,
                    in_shape=in_shape,
                    out_shape=out_shape,
                    kernel=kernel,
                    in_channels=cin,
                    out_channels=cout,
                    groups=groups,
                    macs=n_out * fan_in,
                    n_weights=math.prod(w_shape),
                    n_bias=cout if has_bias else 0,
                    fan_in=fan_in,
                    n_outputs=n_out,
                    valid_macs=valid,
                )
            )

        return hook

    for name, m in model.named_modules():
        op = _op_kind(m)
        if op is None or (include is not None and not include(name, m)):
            continue
        handles.append(m.register_forward_hook(make_hook(name, m, op)))
    was_training = model.training
    try:
        model.eval()
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return records
