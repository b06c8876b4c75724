"""The QONNX graph of an exact model: ONNX nodes, Quant-ed initializers and a proof that float32 carries it exactly.

Data flow: exact model (``csq_hw.quant.exact``: ``ExactQuantLayer``, ``FixedPointQuant``, ``ExactAffine``) + its
``precisions.json`` -> the torch.fx graph the integer reference walks (:func:`hls.reference.trace_exact`) and one
sample's shapes (``ShapeProp`` on a zero input) -> a few ONNX nodes per fx node, in graph order -> one
``onnx.ModelProto`` (ONNX opset 13, IR version 8, QONNX domain ``qonnx.custom_op.general`` version 1).

Shapes and units: tensors keep torch's layout and order, (1, C, H, W), (1, C, L) or (1, F), batch 1 in the file; the
output is the logits (1, n_classes). Every tensor is float32 holding a dyadic value ``codes * 2^-f`` (the builder
tracks f and a bound on ``|codes|`` beside each tensor).

Activation quantizers (each layer's input, (k, i, f), W = k + i + f): the exact model computes
``clamp(floor(x 2^f + 1/2), lo, hi) 2^-f`` (round half up, saturate). QONNX's Quant clamps, then rounds; none of its
rounding modes is half up (``HALF_UP`` rounds half away from zero: -2.5 -> -3 where the exact model gives -2; ``ROUND``
is half to even), and ``x + 2^-(f+1)`` in float32 can itself round up onto the next grid point (x = 2^-5 - 2^-29,
f = 4). So each quantizer is three nodes, exact for every float32 x::

    u = Quant(x, scale 2^-(f+1), zeropt 0, bitwidth W+1, signed k, narrow 0, FLOOR)  # floor(x 2^(f+1)): exact
    v = Add(u, 2^-(f+1))                                                            # exact: codes <= 2^(W+1)
    q = Quant(v, scale 2^-f, zeropt 0, bitwidth W, signed k, narrow 0, FLOOR)       # the quantizer (k, i, f)

since ``floor((floor(2y) + 1) / 2) = floor(y + 1/2)`` and clamping commutes with both floors (the first range,
[2 lo, 2 hi + 1], is the second's on the finer grid). Parameters are float initializers already on their grid, each
through a Quant with the declared width (identity on the grid): weights ``int * 2^e`` with scale ``2^-f_w`` and
bitwidth ``k + i + f`` of ``precisions.json`` (signed, narrow: CSQ digits are symmetric), biases with their ``bits``
and ``2^step_exponent``, BatchNorm (frozen: ``ExactAffine``) as ``Mul`` by scale and ``Add`` of shift, both Quant-ed.

Float32 exactness: a Quant output is exact (codes below 2^24); MatMul, Conv, Add, Mul and average pooling are exact
in any summation order when every partial sum's codes stay below 2^24 on the finest grid of its terms. The builder
bounds every such tensor over all inputs (sum of ``|w| * max|x|`` per output) and reports the largest bound;
``max_codes < 2^24`` is the guarantee (:attr:`QonnxGraph.float32_exact`).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import Precisions
from csq_hw.quant.exact import ExactAffine, ExactQuantLayer, FixedPointQuant

from .reference import SUPPORTED, UnsupportedLayerError, trace_exact
from .run_files import as_int

__all__ = ["QonnxGraph", "build_qonnx_graph", "OPSET", "QONNX_DOMAIN", "IR_VERSION", "FLOAT32_CODES"]

OPSET, IR_VERSION = 13, 8
QONNX_DOMAIN = "qonnx.custom_op.general"
FLOAT32_CODES = 2**24  # integers below this are exact in float32


@dataclass(frozen=True)
class _T:
    """A tensor of the graph being built: ONNX name, torch shape (batch 1), grid ``2^-f`` (None: the raw input) and a
    bound on ``|codes|`` over every input."""

    name: str
    shape: tuple[int, ...]
    f: int | None = None
    bound: int = 0


@dataclass
class QonnxGraph:
    """The built model. ``max_codes`` is the largest bound on any tensor's codes, at tensor ``max_codes_at``."""

    proto: Any  # onnx.ModelProto
    max_codes: int
    max_codes_at: str

    @property
    def float32_exact(self) -> bool:
        """True when float32 carries every value of every input exactly (see the module docstring)."""
        return self.max_codes < FLOAT32_CODES


def _tup(v: Any, nd: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * nd


def _grid(x: _T, f: int) -> int:
    """``x``'s code bound on the finer grid 2^-f."""
    assert x.f is not None and f >= x.f
    return x.bound << (f - x.f)


class _Builder:
    def __init__(self, model: nn.Module, prec: Precisions) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.model = model
        self.layers = {la.name: la for la in prec.layers}
        self.bns = {bn.name: bn for bn in prec.batchnorm}
        self.state = model.state_dict()
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.worst = (0, "")
        self.used: set[str] = {"input"}

    # -- helpers ------------------------------------------------------------------------------------------------------
    def _note(self, t: _T) -> _T:
        if t.bound > self.worst[0]:
            self.worst = (t.bound, t.name)
        return t

    def fresh(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``, ... when taken (a module called twice, e.g. a shared ReLU)."""
        out, j = name, 0
        while out in self.used:
            j += 1
            out = f"{name}_{j}"
        self.used.add(out)
        return out

    def const(self, name: str, value: np.ndarray | float) -> str:
        name = self.fresh(name)
        arr = np.asarray(value, dtype=np.float32)
        if not np.array_equal(arr.astype(np.float64), np.asarray(value, dtype=np.float64)):
            raise UserError(f"{name}: a value is not exact in float32; the model's widths are too large for QONNX")
        self.inits.append(self.numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, domain: str = "", **attrs: Any) -> str:
        name = self.fresh(name)
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, domain=domain, **attrs))
        return name

    def quant(self, x: str, name: str, f: int, width: int, signed: int, narrow: int, rounding: str) -> str:
        """``Quant(x, 2^-f, 0, width)``; scalar float32 initializers ``<name>.scale/.zeropt/.bitwidth``."""
        if width == 1 and signed:  # qonnx executes a signed 1-bit Quant as bipolar +-1
            raise UserError(f"{name}: a signed 1-bit quantizer runs as bipolar +-1 in QONNX; give it 2 bits or more")
        ins = [x, self.const(f"{name}.scale", 2.0**-f), self.const(f"{name}.zeropt", 0.0),
               self.const(f"{name}.bitwidth", float(width))]  # fmt: skip
        attrs = {"signed": int(signed), "narrow": int(narrow), "rounding_mode": rounding}
        return self.node("Quant", ins, name, domain=QONNX_DOMAIN, **attrs)

    def param(self, name: str, ints: np.ndarray, f: int, width: int, signed: int, narrow: int) -> str:
        """The integers ``ints`` (on the grid 2^-f) as a float initializer followed by their Quant."""
        lo = -(2 ** (width - 1)) + narrow if signed else 0
        hi = 2 ** (width - 1) - 1 if signed else 2**width - 1
        if ints.size and (ints.min() < lo or ints.max() > hi):
            raise UserError(f"{name}: integers span [{ints.min()}, {ints.max()}], outside the declared {width}-bit "
                            f"range [{lo}, {hi}]; precisions.json and the model are not from the same run")  # fmt: skip
        self._note(_T(name, ints.shape, f, int(np.abs(ints).max(initial=0))))
        return self.quant(self.const(name, ints * 2.0**-f), f"{name}_quant", f, width, signed, narrow, "ROUND")

    def act_quant(self, x: _T, k: int, i: int, f: int, name: str) -> _T:
        """The exact model's quantizer (k, i, f): FLOOR at 2^-(f+1), add half an LSB, FLOOR at 2^-f (docstring)."""
        w = k + i + f
        lo, hi = (-(2 ** (w - 1)), 2 ** (w - 1) - 1) if k else (0, 2**w - 1)
        u = self.quant(x.name, f"{name}.pre_round", f + 1, w + 1, k, 0, "FLOOR")
        v = self.node("Add", [u, self.const(f"{name}.half_lsb", 2.0 ** -(f + 1))], f"{name}.plus_half")
        self._note(_T(v, x.shape, f + 1, max(2 * abs(lo), 2 * hi + 2)))
        return _T(self.quant(v, name, f, w, k, 0, "FLOOR"), x.shape, f, max(abs(lo), hi))

    def add(self, a: _T, b: _T, name: str, shape: tuple[int, ...]) -> _T:
        assert a.f is not None and b.f is not None
        f = max(a.f, b.f)
        return self._note(_T(self.node("Add", [a.name, b.name], name), shape, f, _grid(a, f) + _grid(b, f)))

    # -- layers -------------------------------------------------------------------------------------------------------
    def quant_layer(self, name: str, m: ExactQuantLayer, x: _T, shape: tuple[int, ...]) -> _T:
        la = self.layers.get(name)
        if la is None:
            raise UserError(f"quantized layer {name!r} is not listed in precisions.json")
        q = la.input
        if (m.quant.k, m.quant.i, m.quant.f) != (q.k, q.i, q.f):
            raise UserError(f"{name}: the model's input quantizer differs from precisions.json")
        xq = self.act_quant(x, q.k, q.i, q.f, f"{name}.input_quant")
        wp, layer = la.weight, m.layer
        if wp.positions and None not in (wp.i, wp.f):
            wk, wf, width = wp.k, int(wp.f), wp.k + int(wp.i) + int(wp.f)
        else:  # no bit selected: all weights are 0
            wk, wf, width = 1, -wp.grid_exponent, 2
        w = as_int(self.state[f"{name}.layer.weight"], -wf, f"{name} weight")
        bias, b = None, np.zeros(0, dtype=np.int64)
        if la.bias is not None:
            fb = -la.bias.step_exponent
            b = as_int(self.state[f"{name}.layer.bias"], -fb, f"{name} bias")
            bias = _T(self.param(f"{name}.bias", b, fb, la.bias.bits, 1, 0), b.shape, fb, int(np.abs(b).max(initial=0)))
        fy = q.f + wf
        per_out = np.abs(w).reshape(len(w), -1).sum(axis=1) * xq.bound  # (O,) bound of each output's sum
        if isinstance(layer, nn.Linear):
            wq = self.param(f"{name}.weight", w.T, wf, width, wk, 1)  # (in, out): x (1, in) @ W^T
            y = self._note(_T(self.node("MatMul", [xq.name, wq], f"{name}.matmul"), shape, fy, int(per_out.max())))
            return self.add(y, bias, f"{name}.out", shape) if bias is not None else y
        if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            nd = w.ndim - 2
            if layer.groups != 1 or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
                raise UnsupportedLayerError(f"{name}.layer ({layer}): only groups=1 with numeric zero padding exports; "
                                            "retrain with such convolutions")  # fmt: skip
            wq = self.param(f"{name}.weight", w, wf, width, wk, 1)
            ins = [xq.name, wq]
            f_out, bound = fy, int(per_out.max())
            if bias is not None and bias.f is not None:
                f_out = max(fy, bias.f)
                bound = int(((per_out << (f_out - fy)) + (np.abs(b) << (f_out - bias.f))).max())
                ins.append(bias.name)
            attrs = {
                "kernel_shape": list(w.shape[2:]),
                "strides": list(_tup(layer.stride, nd)),
                "pads": list(_tup(layer.padding, nd)) * 2,  # begin of each spatial axis, then end
                "dilations": list(_tup(layer.dilation, nd)),
                "group": 1,
            }
            return self._note(_T(self.node("Conv", ins, f"{name}.out", **attrs), shape, f_out, bound))
        raise UnsupportedLayerError(f"{name}.layer ({type(layer).__name__}) is not supported; supported: {SUPPORTED}")

    def affine(self, name: str, x: _T, shape: tuple[int, ...]) -> _T:
        bn = self.bns.get(name)
        if bn is None:
            raise UserError(f"ExactAffine {name!r} is not listed in precisions.json batchnorm")
        assert x.f is not None
        view = (-1,) + (1,) * (len(shape) - 2)  # channel dim 1 of (1, C, *spatial)
        s = as_int(self.state[f"{name}.scale"], bn.scale_step_exponent, f"{name} scale")
        t = as_int(self.state[f"{name}.shift"], bn.shift_step_exponent, f"{name} shift")
        fs, ft = -bn.scale_step_exponent, -bn.shift_step_exponent
        sq = self.param(f"{name}.scale", s.reshape(view), fs, bn.bits, 1, 0)
        tq = self.param(f"{name}.shift", t.reshape(view), ft, bn.bits, 1, 0)
        y = _T(self.node("Mul", [x.name, sq], f"{name}.mul"), shape, x.f + fs, x.bound * int(np.abs(s).max(initial=0)))
        return self.add(self._note(y), _T(tq, (), ft, int(np.abs(t).max(initial=0))), f"{name}.out", shape)

    def pool(self, name: str, m: nn.Module, x: _T, shape: tuple[int, ...], kind: str) -> _T:
        nd = len(x.shape) - 2
        kernel, stride = _tup(m.kernel_size, nd), _tup(m.stride if m.stride is not None else m.kernel_size, nd)
        dilated = any(d != 1 for d in _tup(getattr(m, "dilation", 1), nd))
        if any(_tup(m.padding, nd)) or m.ceil_mode or dilated or getattr(m, "divisor_override", None) is not None:
            raise UnsupportedLayerError(f"{name} ({m}) has no exact QONNX export: pooling needs padding=0, dilation=1, "
                                        "ceil_mode=False, no divisor_override; use such pooling (the ImageNet "
                                        "ResNets' stem pooling is padded: export resnet20 or own models)")  # fmt: skip
        attrs = {"kernel_shape": list(kernel), "strides": list(stride), "pads": [0] * (2 * nd)}
        if kind == "max":
            return _T(self.node("MaxPool", [x.name], f"{name}.out", **attrs), shape, x.f, x.bound)
        return self.mean(self.node("AveragePool", [x.name], f"{name}.out", **attrs), x, shape, int(np.prod(kernel)))

    def mean(self, out: str, x: _T, shape: tuple[int, ...], count: int) -> _T:
        assert x.f is not None
        if count & (count - 1):
            raise UnsupportedLayerError(f"{out}: an average over {count} values is not exact in fixed point; use a "
                                        "power-of-two window")  # fmt: skip
        return self._note(_T(out, shape, x.f + count.bit_length() - 1, x.bound * count))

    def module(self, name: str, m: nn.Module, x: _T, shape: tuple[int, ...]) -> _T:
        if isinstance(m, ExactQuantLayer):
            return self.quant_layer(name, m, x, shape)
        flat = isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) == (1, -1)
        if isinstance(m, (nn.Identity, nn.Dropout)):
            return x
        if flat:
            return _T(self.node("Flatten", [x.name], f"{name}.out", axis=1), shape, x.f, x.bound)
        if x.f is None:
            raise UnsupportedLayerError(f"{name} ({type(m).__name__}) comes before the first quantized layer; only "
                                        "Flatten, Identity or Dropout may")  # fmt: skip
        if isinstance(m, ExactAffine):
            return self.affine(name, x, shape)
        if isinstance(m, FixedPointQuant):
            return self.act_quant(x, m.k, m.i, m.f, f"{name}.quant")
        if isinstance(m, nn.ReLU):
            return _T(self.node("Relu", [x.name], f"{name}.out"), shape, x.f, x.bound)
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
            return self.pool(name, m, x, shape, "max")
        if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
            return self.pool(name, m, x, shape, "avg")
        if isinstance(m, nn.AdaptiveAvgPool2d) and tuple(np.atleast_1d(m.output_size)) in ((1,), (1, 1)):
            out = self.node("GlobalAveragePool", [x.name], f"{name}.out")
            return self.mean(out, x, shape, x.shape[2] * x.shape[3])
        raise UnsupportedLayerError(f"module {name!r} ({type(m).__name__}) has no QONNX export; supported: {SUPPORTED}")

    def function(self, node: fx.Node, args: list[Any], kwargs: dict[str, Any], shape: tuple[int, ...]) -> _T:
        target = getattr(torch, str(node.target)) if node.op == "call_method" else node.target
        fixed = all(isinstance(a, _T) and a.f is not None for a in args[:2])
        if target in (operator.add, torch.add) and len(args) == 2 and fixed and not kwargs:
            return self.add(args[0], args[1], node.name, shape)
        x = args[0] if args else None
        if target in (torch.relu, F.relu) and isinstance(x, _T) and x.f is not None:
            return _T(self.node("Relu", [x.name], node.name), shape, x.f, x.bound)
        if target is torch.flatten and isinstance(x, _T) and (args[1:] == [1] or kwargs == {"start_dim": 1}):
            return _T(self.node("Flatten", [x.name], node.name, axis=1), shape, x.f, x.bound)
        what = getattr(target, "__name__", str(target))
        raise UnsupportedLayerError(f"function {what!r} ({node.name}) has no QONNX export; supported: {SUPPORTED}")


def build_qonnx_graph(model: nn.Module, precisions: Precisions | dict[str, Any]) -> QonnxGraph:
    """The QONNX model of ``model`` (see the module docstring); :class:`UserError` for what cannot be exported.

    Args:
        model: the exact model (``build_exact_model`` + the run's state dict); read, not changed.
        precisions: its ``precisions.json`` (dict or :class:`Precisions`), the source of every width and grid.
    """
    from onnx import TensorProto, helper

    prec = Precisions.of(precisions)
    graph = trace_exact(model)
    gm = fx.GraphModule(model, graph)
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    with torch.no_grad():
        ShapeProp(gm).propagate(torch.zeros((1, *prec.model.input_shape), dtype=dtype))
    b = _Builder(model, prec)
    env: dict[fx.Node, Any] = {}
    load = lambda a: fx.node.map_arg(a, lambda n: env[n])  # noqa: E731
    x_in = out = None
    for node in graph.nodes:
        meta = node.meta.get("tensor_meta")
        shape = tuple(int(d) for d in meta.shape) if hasattr(meta, "shape") else ()
        if node.op == "placeholder":
            env[node] = x_in = _T("input", shape)
        elif node.op == "call_module":
            name = str(node.target)
            env[node] = b.module(name, model.get_submodule(name), load(node.args)[0], shape)
        elif node.op in ("call_function", "call_method"):
            env[node] = b.function(node, list(load(node.args)), dict(load(node.kwargs)), shape)
        elif node.op == "output":
            out = load(node.args[0])
        else:
            raise UnsupportedLayerError(f"graph node {node.op} {node.target} has no QONNX export")
    if not isinstance(out, _T) or out.f is None or x_in is None:
        raise UnsupportedLayerError("the model must take one tensor and return one that passed a quantized layer")
    g = helper.make_graph(
        b.nodes,
        f"csq_hw_{prec.model.name}".replace("-", "_"),
        [helper.make_tensor_value_info(x_in.name, TensorProto.FLOAT, list(x_in.shape))],
        [helper.make_tensor_value_info(out.name, TensorProto.FLOAT, list(out.shape))],
        initializer=b.inits,
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(QONNX_DOMAIN, 1)]
    proto = helper.make_model(g, opset_imports=opsets, ir_version=IR_VERSION, producer_name="csq-hw")
    return QonnxGraph(proto, b.worst[0], b.worst[1])
