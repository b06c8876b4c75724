"""Export options and the hls4ml configuration built from them, plus the per-layer types planned from the bits.

The hls4ml configuration sets what the user chooses (backend, io type, strategy, reuse factor, part, clock); the
numeric types come from the quantizers: hls4ml's ``BitExact`` pass (enabled by the ``FixedPointQuantizer`` layers,
see :mod:`hls.hls4ml_handlers`) derives every weight, bias, accumulator and result type from the quantizer types and the
actual weights, so none overflows and none rounds. :func:`planned_types` gives the worst-case types from the bits
and the fan-in alone (what a type that ignores the weight values would need); the report shows both.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from typing import Any

from cost_models import LayerGeometry
from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import Precisions

from .precision import FixedType, bits_for_int_range

__all__ = ["BACKENDS", "IO_TYPES", "STRATEGIES", "BUILD_TOOLS", "ExportOptions", "hls4ml_config", "planned_types"]

BACKENDS = ("Vitis", "Vivado", "Quartus", "Catapult")
IO_TYPES = ("io_parallel", "io_stream")
STRATEGIES = ("Latency", "Resource", "distributed_arithmetic")
#: the vendor tool each backend's ``build()`` needs on PATH (hls4ml 1.3.0)
BUILD_TOOLS = {"Vitis": "vitis-run", "Vivado": "vivado_hls", "Quartus": "i++", "Catapult": "catapult"}
#: backends whose reuse-factor rule :mod:`hls.reuse` reproduces (others: read back only)
RF_RULE_BACKENDS = ("Vitis", "Vivado", "Catapult")


def _pick(value: str, choices: tuple[str, ...], what: str) -> str:
    for c in choices:
        if value.lower() == c.lower():
            return c
    raise UserError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


@dataclass(frozen=True)
class ExportOptions:
    """User choices for one export. Names are matched case-insensitively and normalised.

    Attributes:
        backend: ``Vitis`` (default), ``Vivado``, ``Quartus`` or ``Catapult``.
        io_type: ``io_parallel`` or ``io_stream``.
        strategy: ``Latency``, ``Resource`` or ``distributed_arithmetic`` (Vivado/Vitis, reuse factor 1).
        reuse_factor: multiplications sharing one multiplier in every Linear/Conv layer; must be valid.
        part: FPGA part (``None``: the backend's default).
        clock_ns: clock period in nanoseconds.
    """

    backend: str = "Vitis"
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int = 1
    part: str | None = None
    clock_ns: float = 5.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "backend", _pick(self.backend, BACKENDS, "backend"))
        set_(self, "io_type", _pick(self.io_type, IO_TYPES, "io type"))
        set_(self, "strategy", _pick(self.strategy, STRATEGIES, "strategy"))
        if isinstance(self.reuse_factor, bool) or int(self.reuse_factor) != self.reuse_factor or self.reuse_factor < 1:
            raise UserError(f"reuse factor {self.reuse_factor!r} is invalid; pass a positive integer")
        if not self.clock_ns > 0:
            raise UserError(f"clock period {self.clock_ns!r} ns is invalid; pass a positive number of nanoseconds")
        if self.strategy == "distributed_arithmetic" and (
            self.backend not in ("Vitis", "Vivado") or self.reuse_factor != 1
        ):
            raise UserError("strategy distributed_arithmetic needs backend Vitis or Vivado and reuse factor 1")
        if self.strategy == "distributed_arithmetic" and importlib.util.find_spec("da4ml") is None:
            raise UserError("strategy distributed_arithmetic needs da4ml, which is not installed; pip install "
                            "'csq-hw[da4ml]' or use --strategy Latency")  # fmt: skip

    def check_model(self, ops: set[str]) -> None:
        """Refuse combinations that hls4ml 1.3.0 converts but cannot compile (``ops``: the model's layer ops)."""
        if self.backend == "Quartus" and self.io_type == "io_stream" and "conv2d" in ops:
            raise UserError(
                "hls4ml 1.3.0's Quartus backend does not compile Conv2d models in io_stream (its channels-last "
                "transpose takes arrays, not streams); use --io-type io_parallel or another backend"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hls4ml_config(
    hls_module: Any, input_shape: tuple[int, ...], options: ExportOptions, mac_layers: list[str]
) -> dict[str, Any]:
    """The hls4ml configuration (granularity ``name``) for the hls-side model.

    Args:
        hls_module: the model from :func:`hls.hls4ml_handlers.to_hls_module`.
        input_shape: one sample's shape, without batch.
        options: the user's choices.
        mac_layers: hls4ml names of the Linear/Conv layers (they get the reuse factor and strategy).
    """
    from .hls4ml_handlers import hls4ml

    cfg = hls4ml.utils.config_from_pytorch_model(
        hls_module,
        input_shape=tuple(input_shape),
        granularity="name",
        backend=options.backend,
        default_precision="fixed<16,6>",  # unused: BitExact derives every type from the quantizers
        default_reuse_factor=1,
        channels_last_conversion="full",
        transpose_outputs=False,
    )
    cfg["Model"]["Strategy"] = options.strategy
    cfg["Model"]["ReuseFactor"] = options.reuse_factor
    layers = cfg["LayerName"]
    missing = [n for n in mac_layers if n not in layers]
    if missing:
        raise UserError(f"hls4ml config has no layers {missing}; known: {', '.join(layers)}")
    for n in mac_layers:
        layers[n]["ReuseFactor"] = options.reuse_factor
        layers[n]["Strategy"] = options.strategy
    return cfg


def planned_types(precisions: Precisions | dict[str, Any], geometry: list[LayerGeometry]) -> dict[str, dict[str, str]]:
    """Per layer, the types that the bits and the fan-in alone require (worst case over every input and weight).

    input: the layer's quantizer (RND, SAT); weight/bias: the declared grids; accum: ``f = f_in + f_w`` (or the
    bias's f if finer), range ``fan_in * max|x| * max|w| + max|b|`` (no overflow for any weights of these bits).
    """
    geo = {g.name: g for g in geometry}
    out: dict[str, dict[str, str]] = {}
    for la in Precisions.of(precisions).layers:
        name, q, w = la.name, la.input, la.weight
        x_t = FixedType(q.k, q.i, q.f, "RND", "SAT")
        lo, hi = x_t.int_range()
        x_max = max(-lo, hi)
        types = {"input": x_t.to_hls()}
        if w.positions:
            w_f = int(w.f)
            w_t = FixedType(1, int(w.i), w_f, "TRN", "WRAP")
            w_max = sum(1 << (b - w.positions[0]) for b in w.positions)  # codes on the 2^-w_f grid
            types["weight"] = w_t.to_hls()
        else:
            w_f, w_max = 0, 0
        f_acc = x_t.f + w_f
        bound = geo[name].fan_in * x_max * w_max if name in geo else 0
        if la.bias is not None:
            b = la.bias
            b_t = FixedType(1, int(b.i), int(b.f), "TRN", "WRAP")
            types["bias"] = b_t.to_hls()
            f_new = max(f_acc, b_t.f)
            bound = (bound << (f_new - f_acc)) + (2 ** (b.bits - 1) << (f_new - b_t.f))
            f_acc = f_new
        types["accum"] = bits_for_int_range(-bound, bound, f_acc).to_hls()
        out[name] = types
    return out
