"""Typed views of ``precisions.json`` (docs/precisions_v1.md): one frozen dataclass per table of the document.

:meth:`Precisions.of` takes the JSON dict (as :func:`csq_hw.handoff.precisions.read_precisions` returns it, validated)
or a ``Precisions`` and gives the typed tree; :meth:`Precisions.to_dict` gives the JSON dict back, unchanged (tested on
trained runs). Readers use the attributes (``prec.layers[0].weight.positions``), never raw string keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FixedFormat", "InputQuantizer", "WeightPrecision", "BiasPrecision", "LayerPrecision",
           "BatchNormPrecision", "ModelSpec", "Precisions"]  # fmt: skip

PRECISIONS_SCHEMA = "csq-hw/precisions"  # the document's "schema" and "version" (docs/precisions_v1.md)
PRECISIONS_VERSION = 1


@dataclass(frozen=True)
class FixedFormat:
    """``ap_fixed<k + i + f, k + i>``: sign bit ``k`` (0/1), integer bits ``i`` (sign excluded), fraction ``f``."""

    k: int
    i: int
    f: int

    @property
    def width(self) -> int:
        """W = k + i + f."""
        return self.k + self.i + self.f


@dataclass(frozen=True)
class InputQuantizer(FixedFormat):
    """A layer's input quantizer: ``q(x) = clamp(floor(x 2^f + 0.5), lo, hi) 2^-f`` (RND, SAT)."""

    bits: int = 0
    signed: bool = False
    rounding: str = "RND"
    saturation: str = "SAT"
    searched: bool = False

    @property
    def range_exponent(self) -> int:
        return self.i

    @property
    def step_exponent(self) -> int:
        return -self.f

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputQuantizer:
        return cls(d["k"], d["i"], d["f"], d["bits"], d["signed"], d["rounding"], d["saturation"],
                   d.get("searched", False))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"bits": self.bits, "signed": self.signed, "k": self.k, "i": self.i, "f": self.f,
                "range_exponent": self.i, "step_exponent": -self.f, "rounding": self.rounding,
                "saturation": self.saturation, "searched": self.searched}  # fmt: skip


@dataclass(frozen=True)
class WeightPrecision:
    """Weight = ``int * 2^step_exponent``, ``int = sum_{b in positions} d_b 2^b``, ``d_b in {-1, 0, 1}``."""

    bits: int
    positions: tuple[int, ...]
    span_bits: int
    step_exponent: int | None
    step: float
    k: int
    i: int | None
    f: int | None
    int_min: int
    int_max: int

    @property
    def grid_exponent(self) -> int:
        """The exponent the integer weights are counted in (``step_exponent``; 0 when no position is selected)."""
        return self.step_exponent if self.positions and self.step_exponent is not None else 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WeightPrecision:
        return cls(d["bits"], tuple(d["positions"]), d["span_bits"], d["step_exponent"], d["step"], d["k"], d["i"],
                   d["f"], d["int_min"], d["int_max"])  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"bits": self.bits, "positions": list(self.positions), "span_bits": self.span_bits,
                "step_exponent": self.step_exponent, "step": self.step, "k": self.k, "i": self.i, "f": self.f,
                "int_min": self.int_min, "int_max": self.int_max}  # fmt: skip


@dataclass(frozen=True)
class BiasPrecision(FixedFormat):
    """Bias = ``int * 2^step_exponent``, ``int`` in ``[-2^(bits-1), 2^(bits-1) - 1]``."""

    bits: int = 0
    step_exponent: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BiasPrecision:
        return cls(d["k"], d["i"], d["f"], d["bits"], d["step_exponent"])

    def to_dict(self) -> dict[str, Any]:
        return {"bits": self.bits, "step_exponent": self.step_exponent, "k": self.k, "i": self.i, "f": self.f}


@dataclass(frozen=True)
class LayerPrecision:
    """One CSQ layer (``layers[j]``): module name, op, weight shape, weight, bias (None: no bias), input."""

    name: str
    op: str
    weight_shape: tuple[int, ...]
    weight: WeightPrecision
    bias: BiasPrecision | None
    input: InputQuantizer
    searched: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerPrecision:
        bias = None if d["bias"] is None else BiasPrecision.from_dict(d["bias"])
        return cls(d["name"], d["op"], tuple(d["weight_shape"]), WeightPrecision.from_dict(d["weight"]), bias,
                   InputQuantizer.from_dict(d["input"]), d.get("searched", True))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "weight_shape": list(self.weight_shape),
                "weight": self.weight.to_dict(), "bias": None if self.bias is None else self.bias.to_dict(),
                "input": self.input.to_dict(), "searched": self.searched}  # fmt: skip


@dataclass(frozen=True)
class BatchNormPrecision:
    """A BatchNorm frozen into ``y = x * scale + shift``, both on fixed-point grids of ``bits`` bits."""

    name: str
    channels: int
    scale_step_exponent: int
    shift_step_exponent: int
    bits: int

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BatchNormPrecision:
        return cls(d["name"], d["channels"], d["scale_step_exponent"], d["shift_step_exponent"], d["bits"])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "channels": self.channels, "scale_step_exponent": self.scale_step_exponent,
                "shift_step_exponent": self.shift_step_exponent, "bits": self.bits}  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild the float model: zoo name or spec + kwargs, or the run's traced ``architecture`` file."""

    name: str
    input_shape: tuple[int, ...]
    n_classes: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    architecture: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(d["name"], tuple(d["input_shape"]), d["n_classes"], dict(d.get("kwargs", {})),
                   d.get("architecture"))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "kwargs": self.kwargs, "input_shape": list(self.input_shape),
               "n_classes": self.n_classes}  # fmt: skip
        if self.architecture is not None:
            out["architecture"] = self.architecture
        return out


@dataclass(frozen=True)
class Precisions:
    """The whole file: model, ``max_bits`` N, ``weight_step`` (pow2 | float), layers, BatchNorms, float layers."""

    model: ModelSpec
    max_bits: int
    weight_step: str
    layers: tuple[LayerPrecision, ...]
    batchnorm: tuple[BatchNormPrecision, ...] = ()
    full_precision: tuple[str, ...] = ()

    @classmethod
    def of(cls, prec: Precisions | dict[str, Any]) -> Precisions:
        """``prec`` typed (a dict must already be valid: :func:`csq_hw.handoff.precisions.validate_precisions`)."""
        if isinstance(prec, Precisions):
            return prec
        return cls(ModelSpec.from_dict(prec["model"]), prec["max_bits"], prec["weight_step"],
                   tuple(LayerPrecision.from_dict(e) for e in prec["layers"]),
                   tuple(BatchNormPrecision.from_dict(e) for e in prec.get("batchnorm", [])),
                   tuple(prec.get("full_precision", [])))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The JSON dict (schema and version included)."""
        return {"schema": PRECISIONS_SCHEMA, "version": PRECISIONS_VERSION, "model": self.model.to_dict(),
                "max_bits": self.max_bits, "weight_step": self.weight_step,
                "layers": [la.to_dict() for la in self.layers], "batchnorm": [b.to_dict() for b in self.batchnorm],
                "full_precision": list(self.full_precision)}  # fmt: skip

    def layer(self, name: str) -> LayerPrecision:
        """The layer called ``name`` (KeyError naming the known layers otherwise)."""
        for la in self.layers:
            if la.name == name:
                return la
        raise KeyError(f"no layer {name!r}; layers: {', '.join(la.name for la in self.layers)}")
