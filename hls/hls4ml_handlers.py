"""The hls4ml side of the exact model: quantizers as hls4ml ``FixedPointQuantizer`` layers, BatchNorm as BN.

This module imports hls4ml at import time; import it lazily (``from . import hls4ml_handlers`` inside a function),
so that ``import hls`` and ``import csq_hw`` stay light. Route (docs/hls.md, step 3): every ``FixedPointQuant`` becomes
a leaf :class:`CSQQuant` (an ``HLS4MLModule``, so torch.fx does not trace into it) that a registered handler maps to
hls4ml's ``FixedPointQuantizer`` (round ``RND``, overflow ``SAT``). Its presence turns on hls4ml's ``BitExact`` pass,
which derives every weight, bias, accumulator and result type exactly from the quantizers and the actual weights.
Each ``ExactAffine`` becomes a BatchNorm with mean 0, variance 1, eps 0 (so hls4ml's scale is exactly the affine's
scale), which hls4ml folds into the preceding Linear/Conv with types the BitExact pass sizes for the products.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from csq_hw.errors import UserError
from csq_hw.quant.exact import ExactAffine, FixedPointQuant

try:
    import hls4ml
    from hls4ml.converters.pytorch_to_hls import register_pytorch_layer_handler
    from hls4ml.utils.torch import HLS4MLModule
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise UserError(f"hls4ml is not installed ({exc.name}); install the HLS extra: pip install csq-hw[hls]") from None

__all__ = ["hls4ml", "CSQQuant", "to_hls_module", "fx_names"]


class CSQQuant(HLS4MLModule):
    """Leaf for torch.fx standing for ``FixedPointQuant(k, i, f)``; its forward is the same rounding (RND, SAT)."""

    def __init__(self, k: int, i: int, f: int) -> None:
        super().__init__()
        self.k, self.i, self.f = int(k), int(i), int(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.k + self.i + self.f
        lo, hi = (-(2 ** (w - 1)), 2 ** (w - 1) - 1) if self.k else (0, 2**w - 1)
        return torch.clamp(torch.floor(x * 2.0**self.f + 0.5), lo, hi) * 2.0**-self.f


def _parse_csq_quant(
    operation: str,
    layer_name: str,
    input_names: list[str],
    input_shapes: list[Any],
    node: Any,
    class_object: CSQQuant,
    data_reader: Any,
    config: Any,
) -> tuple[dict[str, Any], Any]:
    """hls4ml pytorch handler: ``CSQQuant`` -> ``FixedPointQuantizer`` with mask (k, B = k+i+f, I = k+i)."""
    q = class_object
    k, b, i = (np.array([v], dtype=np.int16) for v in (q.k, q.k + q.i + q.f, q.k + q.i))
    layer = {
        "name": layer_name,
        "class_name": "FixedPointQuantizer",
        "inputs": input_names,
        "mask_kbi": (k, b, i),
        "SAT": "SAT",
        "RND": "RND",
        "fusible": None,
        "overrides": {},
    }
    return layer, input_shapes[0]


register_pytorch_layer_handler("CSQQuant", _parse_csq_quant)


def _affine_as_bn(aff: ExactAffine, rank: int) -> nn.Module:
    c = aff.scale.numel()
    bn: nn.Module = nn.BatchNorm2d(c, eps=0.0) if rank == 4 else nn.BatchNorm1d(c, eps=0.0)
    with torch.no_grad():
        bn.weight.copy_(aff.scale)
        bn.bias.copy_(aff.shift)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
    return bn.eval()


def to_hls_module(model: nn.Module, input_shape: tuple[int, ...]) -> nn.Module:
    """A copy of the exact model that hls4ml's PyTorch frontend converts (see the module docstring)."""
    model = copy.deepcopy(model).float().eval()
    ranks: dict[str, int] = {}
    spatial: dict[str, tuple[int, ...]] = {}
    hooks = [
        m.register_forward_pre_hook(lambda _m, a, n=n: ranks.__setitem__(n, a[0].dim()))
        for n, m in model.named_modules()
        if isinstance(m, ExactAffine)
    ]
    hooks += [
        m.register_forward_pre_hook(lambda _m, a, n=n: spatial.__setitem__(n, tuple(a[0].shape[2:])))
        for n, m in model.named_modules()
        if _is_global_avg(m)
    ]
    with torch.no_grad():
        model(torch.zeros((1, *input_shape)))
    for h in hooks:
        h.remove()
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, FixedPointQuant):
                setattr(parent, child_name, CSQQuant(child.k, child.i, child.f))
    for name, m in list(model.named_modules()):
        if isinstance(m, ExactAffine):
            parent_name, _, child_name = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child_name, _affine_as_bn(m, ranks[name]))
        elif isinstance(m, (nn.Identity, nn.Dropout)):
            # hls4ml has no Identity layer: a plain-Python pass-through that torch.fx traces into (no node)
            parent_name, _, child_name = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child_name, _Wire())
        elif _is_global_avg(m):
            # hls4ml 1.3.0's PyTorch frontend has no AdaptiveAvgPool2d; over the whole (H, W) map it is an
            # AvgPool2d with that window (exact for a power-of-two H*W, which the reference requires)
            parent_name, _, child_name = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child_name, nn.AvgPool2d(spatial[name]))
    return model


class _Wire(nn.Module):
    """``x -> x``; defined outside ``torch.nn`` so that hls4ml's tracer inlines it (ResNet identity shortcuts)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _is_global_avg(m: nn.Module) -> bool:
    return isinstance(m, nn.AdaptiveAvgPool2d) and tuple(np.atleast_1d(m.output_size)) in ((1,), (1, 1))


def fx_names(model: nn.Module) -> dict[str, str]:
    """``{module FQN: hls4ml layer name}`` for the leaf modules of the hls-side model (hls4ml names = fx nodes)."""
    from hls4ml.utils.torch import CustomFXTracer

    graph = CustomFXTracer().trace(model)
    return {str(n.target): n.name for n in graph.nodes if n.op == "call_module"}
