"""The independent bit-exact oracle: a numpy integer-arithmetic forward pass of the exact model.

Reads the structure of the exact model (a ``torch.fx`` graph in which every ``ExactQuantLayer``, ``FixedPointQuant``
and ``ExactAffine`` is a leaf) and the numbers from ``precisions.json`` + the state dict, and evaluates it with
int64 arithmetic: every tensor is a pair (integer codes, f) meaning ``codes * 2^-f``. Nothing of the trainer's
forward code is reused, so a trainer bug shows up as a mismatch against PyTorch.

Rounding is the contract's: ``q(x) = clamp(floor(x * 2^f + 0.5), lo, hi) * 2^-f`` (round half up, saturate).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import Precisions
from csq_hw.quant.exact import ExactAffine, ExactQuantLayer, FixedPointQuant
from csq_hw.quant.supported import SUPPORTED, UnsupportedLayerError

from .run_files import as_int

__all__ = ["Fixed", "reference_forward", "SUPPORTED", "trace_exact", "UnsupportedLayerError"]

_MAX_BITS = 62  # int64 headroom


@dataclass(frozen=True)
class Fixed:
    """A fixed-point tensor: value = ``codes * 2^-f`` (codes int64)."""

    codes: np.ndarray
    f: int

    def align(self, f: int) -> np.ndarray:
        """Codes on the finer grid 2^-f (f >= self.f): exact left shift."""
        if f < self.f:
            raise ValueError("align only refines the grid")
        return self.codes << (f - self.f)

    def to_float(self) -> np.ndarray:
        """float64 values (exact while |codes| < 2^53)."""
        if self.codes.size and np.abs(self.codes).max() >= 2**53:
            raise UserError("reference values exceed float64's 53-bit mantissa; the model's widths are too large")
        return self.codes.astype(np.float64) * 2.0**-self.f


def _checked(x: Fixed, what: str) -> Fixed:
    if x.codes.size and np.abs(x.codes).max() >= 2**_MAX_BITS:
        raise UserError(f"reference: {what} exceeds {_MAX_BITS} bits; the exact model's widths are too large")
    return x


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, (ExactQuantLayer, FixedPointQuant, ExactAffine)):
            return True
        return super().is_leaf_module(m, qualname)


def trace_exact(model: nn.Module) -> fx.Graph:
    """The exact model's graph, with quantized layers, quantizers and affines as leaves."""
    try:
        return _Tracer().trace(model)
    except Exception as exc:  # torch.fx raises many types
        raise UnsupportedLayerError(
            f"cannot trace the exact model with torch.fx ({exc}); supported: {SUPPORTED}"
        ) from None


def quantize(x: np.ndarray | Fixed, k: int, i: int, f: int) -> Fixed:
    """Round half up to the grid 2^-f, then saturate to (k, i, f). Float input is taken as float64."""
    w = k + i + f
    lo, hi = (-(2 ** (w - 1)), 2 ** (w - 1) - 1) if k else (0, 2**w - 1)
    if isinstance(x, Fixed):
        if f >= x.f:
            codes = x.codes << (f - x.f)
        else:
            s = x.f - f
            codes = (x.codes + (1 << (s - 1))) >> s  # arithmetic shift = floor: floor(v * 2^f + 1/2)
        return Fixed(np.clip(codes, lo, hi), f)
    v = np.asarray(x, dtype=np.float64) * 2.0**f  # exact: power-of-two scaling
    v = np.clip(np.floor(v + 0.5), lo, hi)  # clip first so that the int cast cannot overflow
    return Fixed(v.astype(np.int64), f)


def _windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]) -> np.ndarray:
    """(N, C, *out, *kernel) sliding windows over the trailing spatial dims of x (N, C, *spatial)."""
    nd = len(kernel)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    win = np.lib.stride_tricks.sliding_window_view(x, span, axis=tuple(range(2, 2 + nd)))
    sl = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)
    sl += tuple(slice(None, None, d) for d in dilation)
    return win[sl]


def _conv(x: Fixed, w: np.ndarray, fw: int, m: nn.Module) -> Fixed:
    nd = w.ndim - 2
    if m.groups != 1 or getattr(m, "padding_mode", "zeros") != "zeros" or isinstance(m.padding, str):
        raise UnsupportedLayerError(f"conv {m}: only groups=1, numeric zero padding are supported")
    pad = [(0, 0), (0, 0)] + [(p, p) for p in m.padding]
    win = _windows(np.pad(x.codes, pad), tuple(w.shape[2:]), tuple(m.stride), tuple(m.dilation))
    axes_x = [1] + list(range(2 + nd, 2 + 2 * nd))
    out = np.tensordot(win, w, axes=(axes_x, list(range(1, 2 + nd))))  # (N, *out, O)
    return Fixed(np.moveaxis(out, -1, 1), x.f + fw)


def _pool(x: Fixed, m: nn.Module, kind: str) -> Fixed:
    nd = x.codes.ndim - 2
    tup = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd  # noqa: E731
    kernel, stride = tup(m.kernel_size), tup(m.stride if m.stride is not None else m.kernel_size)
    if any(tup(m.padding)) or getattr(m, "ceil_mode", False) or any(d != 1 for d in tup(getattr(m, "dilation", 1))):
        raise UnsupportedLayerError(f"{m}: only padding=0, dilation=1, ceil_mode=False pooling is supported")
    win = _windows(x.codes, kernel, stride, (1,) * nd)
    axes = tuple(range(2 + nd, 2 + 2 * nd))
    if kind == "max":
        return Fixed(win.max(axis=axes), x.f)
    return _mean_pow2(Fixed(win.sum(axis=axes), x.f), int(np.prod(kernel)), str(m))


def _mean_pow2(total: Fixed, count: int, what: str) -> Fixed:
    if count & (count - 1):
        raise UnsupportedLayerError(f"{what}: average over {count} values is not exact in fixed point; use 2^n")
    return Fixed(total.codes, total.f + count.bit_length() - 1)


def _add(a: Fixed, b: Fixed) -> Fixed:
    f = max(a.f, b.f)
    return Fixed(a.align(f) + b.align(f), f)


class _Interpreter:
    def __init__(self, model: nn.Module, precisions: Precisions | dict[str, Any]) -> None:
        prec = Precisions.of(precisions)
        self.model = model
        self.layers = {la.name: la for la in prec.layers}
        self.bns = {bn.name: bn for bn in prec.batchnorm}
        state = model.state_dict()
        self.params: dict[str, dict[str, tuple[np.ndarray, int]]] = {}
        for name, la in self.layers.items():
            ew = la.weight.grid_exponent
            p = {"w": (as_int(state[f"{name}.layer.weight"], ew, f"{name} weight"), -ew)}
            if la.bias is not None:
                eb = la.bias.step_exponent
                p["b"] = (as_int(state[f"{name}.layer.bias"], eb, f"{name} bias"), -eb)
            self.params[name] = p
        for name, bn in self.bns.items():
            es, et = bn.scale_step_exponent, bn.shift_step_exponent
            self.params[name] = {
                "s": (as_int(state[f"{name}.scale"], es, f"{name} scale"), -es),
                "t": (as_int(state[f"{name}.shift"], et, f"{name} shift"), -et),
            }

    def quant_layer(self, name: str, m: ExactQuantLayer, x: np.ndarray | Fixed) -> Fixed:
        la = self.layers.get(name)
        if la is None:
            raise UserError(f"quantized layer {name!r} is not listed in precisions.json")
        q = la.input
        if (m.quant.k, m.quant.i, m.quant.f) != (q.k, q.i, q.f):
            raise UserError(f"{name}: the model's input quantizer differs from precisions.json")
        xq = quantize(x, q.k, q.i, q.f)
        w, fw = self.params[name]["w"]
        layer = m.layer
        if isinstance(layer, nn.Linear):
            y = Fixed(xq.codes @ w.T, xq.f + fw)
        elif isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            y = _conv(xq, w, fw, layer)
        else:
            raise UnsupportedLayerError(
                f"{name}.layer ({type(layer).__name__}) is not supported; supported: {SUPPORTED}"
            )
        if "b" in self.params[name]:
            b, fb = self.params[name]["b"]
            shape = (1, -1) + (1,) * (y.codes.ndim - 2)
            y = _add(y, Fixed(b.reshape(shape), fb))
        return _checked(y, name)

    def affine(self, name: str, x: Fixed) -> Fixed:
        (s, fs), (t, ft) = self.params[name]["s"], self.params[name]["t"]
        shape = (1, -1) + (1,) * (x.codes.ndim - 2)
        return _checked(_add(Fixed(x.codes * s.reshape(shape), x.f + fs), Fixed(t.reshape(shape), ft)), name)

    def module(self, name: str, m: nn.Module, args: list[Any]) -> Any:
        x = args[0]
        if isinstance(m, ExactQuantLayer):
            return self.quant_layer(name, m, x)
        if isinstance(x, np.ndarray):  # the raw input, before the first quantizer: only reshapes are exact
            if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) == (1, -1):
                return x.reshape(len(x), -1)
            if isinstance(m, (nn.Identity, nn.Dropout)):
                return x
            raise UnsupportedLayerError(f"{name} ({type(m).__name__}) comes before the first quantized layer; only "
                                        "Flatten, Identity or Dropout may")  # fmt: skip
        if isinstance(m, ExactAffine):
            return self.affine(name, x)
        if isinstance(m, FixedPointQuant):
            return quantize(x, m.k, m.i, m.f)
        if isinstance(m, nn.ReLU):
            return Fixed(np.maximum(x.codes, 0), x.f)
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
            return _pool(x, m, "max")
        if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
            return _pool(x, m, "avg")
        if isinstance(m, nn.AdaptiveAvgPool2d) and tuple(np.atleast_1d(m.output_size)) in ((1,), (1, 1)):
            total = Fixed(x.codes.sum(axis=(2, 3), keepdims=True), x.f)
            return _mean_pow2(total, x.codes.shape[2] * x.codes.shape[3], name)
        if isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise UnsupportedLayerError(f"{name}: only Flatten(start_dim=1) is supported")
            return Fixed(x.codes.reshape(len(x.codes), -1), x.f)
        if isinstance(m, (nn.Identity, nn.Dropout)):
            return x
        raise UnsupportedLayerError(
            f"module {name!r} ({type(m).__name__}) is not supported by the HLS export; supported: {SUPPORTED}"
        )

    def function(self, target: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if target in (operator.add, torch.add) and all(isinstance(a, Fixed) for a in args[:2]) and not kwargs:
            return _add(args[0], args[1])
        if target in (torch.relu, F.relu) and isinstance(args[0], Fixed):
            return Fixed(np.maximum(args[0].codes, 0), args[0].f)
        if target is torch.flatten and isinstance(args[0], Fixed) and (args[1:] == [1] or kwargs == {"start_dim": 1}):
            return Fixed(args[0].codes.reshape(len(args[0].codes), -1), args[0].f)
        name = getattr(target, "__name__", str(target))
        raise UnsupportedLayerError(f"function {name!r} is not supported by the HLS export; supported: {SUPPORTED}")

    def run(self, graph: fx.Graph, x: np.ndarray) -> Fixed:
        env: dict[fx.Node, Any] = {}
        load = lambda a: fx.node.map_arg(a, lambda n: env[n])  # noqa: E731
        for node in graph.nodes:
            if node.op == "placeholder":
                env[node] = x
            elif node.op == "call_module":
                env[node] = self.module(str(node.target), self.model.get_submodule(str(node.target)), load(node.args))
            elif node.op in ("call_function", "call_method"):
                target = getattr(torch, node.target) if node.op == "call_method" else node.target
                env[node] = self.function(target, list(load(node.args)), dict(load(node.kwargs)))
            elif node.op == "output":
                out = load(node.args[0])
                if not isinstance(out, Fixed):
                    raise UnsupportedLayerError("the model must return one tensor that passed a quantized layer")
                return out
            else:
                raise UnsupportedLayerError(f"graph node {node.op} {node.target} is not supported")
        raise UserError("the traced graph has no output")


def reference_forward(model: nn.Module, precisions: dict[str, Any], x: np.ndarray) -> Fixed:
    """Evaluate the exact model on ``x`` (N, *input_shape) in integer arithmetic.

    Args:
        model: the exact model (from ``build_exact_model`` + the run's state dict); only its structure,
            hyper-parameters (stride, padding, ...) and state values are read.
        precisions: the ``precisions.json`` dict (quantizer (k, i, f), weight/bias/BN exponents).
        x: float inputs; converted to float64 and quantized by the first layer's input quantizer.

    Returns:
        The logits as :class:`Fixed` (``.to_float()`` for float64 values, ``2^-f`` is one LSB).
    """
    return _Interpreter(model, precisions).run(trace_exact(model), np.asarray(x, dtype=np.float64))
