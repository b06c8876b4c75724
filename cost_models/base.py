"""The cost-model intermediate representation and the ``CostModel`` protocol.

Every cost model in this package is a pure function of two things:

* the **geometry** of each quantized layer (:class:`LayerGeometry`): bit-independent facts traced once from
  the model (op kind, shapes, kernel, MACs, weight count, fan-in);
* the **bits** of each layer (:class:`LayerBits`): relaxed float tensors during training (so the cost is
  differentiable in them) or exact integers at the end.

A cost model returns a per-layer breakdown (``per_layer``) and its sum (``__call__``), both as torch tensors
carrying gradients back to the bits, in the model's ``unit``.

Glossary (shared with ``hls/``): k sign bit, i integer bits excluding the sign, f fractional bits,
W = k + i + f. ``w_bits``/``a_bits`` are relaxed floats; ``*_int`` are rounded integers.

This package imports nothing from ``csq_hw`` or ``hls``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

__all__ = ["LayerGeometry", "LayerBits", "CostModel", "SumOverLayers", "CostError", "weight_width", "parse_options"]


class CostError(ValueError):
    """A cost-model input is invalid (unknown kind, malformed table, bits out of range)."""


@dataclass(frozen=True)
class LayerGeometry:
    """Bit-independent facts about one quantized layer, from one traced forward pass of batch size 1.

    Attributes:
        name: fully qualified module name; the key everywhere (never a positional index).
        op: ``"linear"``, ``"conv1d"`` or ``"conv2d"``.
        in_shape: input activation shape per sample, without batch (e.g. ``(16,)`` or ``(8, 8, 8)`` = C,H,W).
        out_shape: output activation shape per sample, without batch.
        kernel: kernel size per spatial dim (``()`` for linear).
        in_channels: input features (linear) or channels (conv).
        out_channels: output features (linear) or channels (conv).
        groups: convolution groups (1 for linear).
        macs: multiply-accumulates per sample = n_outputs * fan_in.
        n_weights: number of weights.
        n_bias: number of biases (0 if the layer has none).
        fan_in: products summed per output = in_channels / groups * prod(kernel).
        n_outputs: output activations per sample = prod(out_shape).
        valid_macs: products that touch a real (non-padding) input; ``-1`` (unknown) means ``macs``. HGQ2's
            EBOPs count these (a padded input has 0 bits).
    """

    name: str
    op: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: tuple[int, ...]
    in_channels: int
    out_channels: int
    groups: int
    macs: int
    n_weights: int
    n_bias: int
    fan_in: int
    n_outputs: int
    valid_macs: int = -1

    @property
    def n_inputs(self) -> int:
        """Input activations per sample."""
        n = 1
        for d in self.in_shape:
            n *= d
        return n

    @property
    def n_valid_macs(self) -> int:
        """Products on real inputs (``macs`` when padding is unknown or absent)."""
        return self.macs if self.valid_macs < 0 else self.valid_macs

    @property
    def output_pixels(self) -> int:
        """Output positions per output channel (1 for linear)."""
        return self.n_outputs // self.out_channels


@dataclass(frozen=True)
class LayerBits:
    """Bit-widths of one layer. Floats carrying gradients while training; integer-valued at the end.

    Attributes:
        weight: weight bits, 0-dim tensor: the number of selected bit positions (CSQ's precision, sign not
            counted).
        act: bits of the layer's input activations, 0-dim tensor (the total width, sign included if signed).
        weight_span: span of the selected bit positions, max - min + 1 (0-dim); the width of a contiguous
            fixed-point magnitude that holds every weight. Defaults to ``weight``.
        bias: bias bits (0-dim, fixed, not searched).
        weight_signed: whether the weights carry a sign (adds one bit where a model counts the sign).
        act_signed: whether the input activations are signed (their sign bit is inside ``act``).
        weight_values: optional exact weight values in units of the weight step (integers, shape of the
            weight), for models that price individual weights (EBOPs, FPGA); ``None`` while training.
    """

    weight: torch.Tensor
    act: torch.Tensor
    weight_span: torch.Tensor | None = None
    bias: torch.Tensor = field(default_factory=lambda: torch.tensor(0.0))
    weight_signed: bool = True
    act_signed: bool = False
    weight_values: torch.Tensor | None = None

    @property
    def span(self) -> torch.Tensor:
        """Span of selected positions, falling back to the position count."""
        return self.weight if self.weight_span is None else self.weight_span

    @staticmethod
    def uniform(w_bits: float, a_bits: float, bias_bits: float = 0.0, **kwargs: object) -> LayerBits:
        """Uniform bits as float64 0-dim tensors (convenient for reports and tests)."""
        t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
        return LayerBits(weight=t(w_bits), act=t(a_bits), weight_span=t(w_bits), bias=t(bias_bits), **kwargs)


BitsMap = Mapping[str, LayerBits]


@runtime_checkable
class CostModel(Protocol):
    """A differentiable hardware cost: a pure function of geometry and bits.

    ``per_layer`` returns one 0-dim tensor per layer name; ``__call__`` returns their sum (0-dim).
    Both are differentiable in the float fields of :class:`LayerBits` and exact at integer bits.
    """

    name: str
    unit: str

    def per_layer(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> dict[str, torch.Tensor]: ...

    def __call__(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> torch.Tensor: ...


class SumOverLayers:
    """Mixin: a cost that is the sum of an independent per-layer term ``layer_cost``.

    Subclasses set ``name`` and ``unit`` and implement ``layer_cost(geom, bits) -> 0-dim tensor``.
    """

    name: str = ""
    unit: str = ""

    def layer_cost(self, geom: LayerGeometry, bits: LayerBits) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def per_layer(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for g in geometry:
            if g.name not in bits:
                raise CostError(f"no bits for layer {g.name!r}; give LayerBits for every traced layer")
            out[g.name] = self.layer_cost(g, bits[g.name])
        return out

    def __call__(self, geometry: Sequence[LayerGeometry], bits: BitsMap) -> torch.Tensor:
        parts = list(self.per_layer(geometry, bits).values())
        if not parts:
            return torch.tensor(0.0)
        return torch.stack([p.reshape(()).to(parts[0].dtype) for p in parts]).sum()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, unit={self.unit!r})"


def weight_width(bits: LayerBits, which: str = "count", count_sign: bool = False) -> torch.Tensor:
    """The weight width a model prices: ``"count"`` (selected positions, ``bits.weight``) or ``"span"``
    (``bits.span``), plus one sign bit when ``count_sign`` and the weights are signed. 0-dim, differentiable."""
    if which not in ("count", "span"):
        raise CostError(f"weight width must be 'count' or 'span', got {which!r}")
    b = bits.weight if which == "count" else bits.span
    if count_sign and bits.weight_signed:
        b = b + 1.0
    return b


def parse_options(model: str, arg: str | None, flags: tuple[str, ...], numeric: tuple[str, ...]) -> dict[str, object]:
    """Parse a registry argument such as ``"resource,rf4,tau10"`` into ``{"resource": True, "rf": 4, "tau": 10}``.

    ``flags`` are bare words; ``numeric`` are prefixes followed by a positive number. Unknown words raise a
    :class:`CostError` listing what ``model`` accepts.
    """
    out: dict[str, object] = {}
    for word in (arg or "").split(","):
        word = word.strip()
        if not word:
            continue
        if word in flags:
            out[word] = True
            continue
        key = next((k for k in numeric if word.startswith(k) and len(word) > len(k)), None)
        if key is None:
            choices = ", ".join([*flags, *(f"{k}N" for k in numeric)])
            raise CostError(f"unknown option {word!r} for cost model {model!r}; options: {choices}")
        try:
            val = float(word[len(key) :])
        except ValueError:
            val = float("nan")
        if not val > 0:
            raise CostError(f"option {word!r} for cost model {model!r} needs a positive number, e.g. {key}4")
        out[key] = val
    return out
