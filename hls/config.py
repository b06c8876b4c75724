"""Export options: what the user chooses for one hls4ml project, checked before anything is converted.

The numeric types are not options: hls4ml's ``BitExact`` pass (enabled by the ``FixedPointQuantizer`` layers, see
:mod:`hls.hls4ml_handlers`) derives every weight, bias, accumulator and result type from the quantizer types and
the actual weights. The options set the rest: backend, io type, strategy, reuse factor, part, clock, project name,
the channels-last conversion, and per-layer overrides (:mod:`hls.layer_overrides`). Combinations that hls4ml 1.3
would accept and then silently change or fail to compile are refused here, in one line.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from csq_hw.errors import UserError

__all__ = [
    "check_strategy",
    "BACKENDS",
    "IO_TYPES",
    "STRATEGIES",
    "CHANNELS_LAST",
    "BACKEND_STRATEGIES",
    "BUILD_TOOLS",
    "CSIM_COMPILERS",
    "DEFAULT_PROJECT_NAME",
    "ExportOptions",
]

BACKENDS = ("Vitis", "Vivado", "Quartus", "Catapult", "oneAPI")
IO_TYPES = ("io_parallel", "io_stream")
STRATEGIES = ("Latency", "Resource", "distributed_arithmetic")
#: hls4ml's ``channels_last_conversion`` of the PyTorch front end: ``full`` (the default: the firmware takes
#: PyTorch's channels-first inputs and transposes them inside) or ``internal`` (the model is converted, the inputs
#: are not: the firmware takes channels-last inputs, and the check and ``tb_data`` give it those)
CHANNELS_LAST = ("full", "internal")
#: the strategies each backend implements for Linear/Conv (hls4ml 1.3.0): Quartus and oneAPI have only the
#: Resource implementation (their optimizers set ``strategy = resource`` on every Dense/Conv whatever was asked);
#: distributed_arithmetic is a Vivado/Vitis pass (da4ml). The first one is the backend's default.
BACKEND_STRATEGIES = {
    "Vitis": ("Latency", "Resource", "distributed_arithmetic"),
    "Vivado": ("Latency", "Resource", "distributed_arithmetic"),
    "Catapult": ("Latency", "Resource"),
    "Quartus": ("Resource",),
    "oneAPI": ("Resource",),
}
#: the vendor tool each backend's ``build()`` needs on PATH (hls4ml 1.3.0)
BUILD_TOOLS = {"Vitis": "vitis-run", "Vivado": "vivado_hls", "Quartus": "i++", "Catapult": "catapult", "oneAPI": "icpx"}
#: the compiler each backend's ``compile()`` (the C simulation the bit-exact check runs) needs on PATH
CSIM_COMPILERS = {"Vitis": "g++", "Vivado": "g++", "Quartus": "g++", "Catapult": "g++", "oneAPI": "icpx"}
DEFAULT_PROJECT_NAME = "csq_prj"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _pick(value: str, choices: tuple[str, ...], what: str) -> str:
    for c in choices:
        if value.lower() == c.lower():
            return c
    raise UserError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


@dataclass(frozen=True)
class ExportOptions:
    """User choices for one export. Names are matched case-insensitively and normalised.

    Attributes:
        backend: ``Vitis`` (default), ``Vivado``, ``Quartus``, ``Catapult`` or ``oneAPI``.
        io_type: ``io_parallel`` or ``io_stream``.
        strategy: ``Latency``, ``Resource`` or ``distributed_arithmetic`` (Vivado/Vitis, reuse factor 1); ``None``:
            the backend's default (Latency; Resource on Quartus and oneAPI, the only one they implement).
        reuse_factor: multiplications sharing one multiplier in every Linear/Conv; must be valid for each layer.
        part: FPGA part (``None``: the backend's default; the report records the part actually used).
        clock_ns: clock period in nanoseconds.
        project_name: the HLS project and top function name (a C identifier).
        channels_last: hls4ml's ``channels_last_conversion`` (see :data:`CHANNELS_LAST`).
        layer_overrides: ``{layer name: {"reuse_factor": int, "strategy": str, ...}}`` for single layers
            (:func:`hls.layer_overrides.check_overrides` lists the keys); names are the run's or hls4ml's.
    """

    backend: str = "Vitis"
    io_type: str = "io_parallel"
    strategy: str | None = None
    reuse_factor: int = 1
    part: str | None = None
    clock_ns: float = 5.0
    project_name: str = DEFAULT_PROJECT_NAME
    channels_last: str = "full"
    layer_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "backend", _pick(self.backend, BACKENDS, "backend"))
        set_(self, "io_type", _pick(self.io_type, IO_TYPES, "io type"))
        set_(self, "channels_last", _pick(self.channels_last, CHANNELS_LAST, "channels-last conversion"))
        strategy = BACKEND_STRATEGIES[self.backend][0] if self.strategy is None else self.strategy
        set_(self, "strategy", _pick(strategy, STRATEGIES, "strategy"))
        check_strategy(self.backend, self.strategy, "--strategy")
        if isinstance(self.reuse_factor, bool) or int(self.reuse_factor) != self.reuse_factor or self.reuse_factor < 1:
            raise UserError(f"reuse factor {self.reuse_factor!r} is invalid; pass a positive integer")
        if not self.clock_ns > 0:
            raise UserError(f"clock period {self.clock_ns!r} ns is invalid; pass a positive number of nanoseconds")
        if not isinstance(self.project_name, str) or not _IDENTIFIER.match(self.project_name):
            raise UserError(f"project name {self.project_name!r} is not a C identifier (it names the top function); "
                            "use letters, digits and _, not starting with a digit, e.g. jet_tagger")  # fmt: skip
        if self.part is not None and (not isinstance(self.part, str) or not self.part.strip()):
            raise UserError(f"FPGA part {self.part!r} is empty; give one such as xcvu13p-flga2577-2-e or leave it out")
        if self.strategy == "distributed_arithmetic" and self.reuse_factor != 1:
            raise UserError("strategy distributed_arithmetic needs reuse factor 1 (da4ml builds one adder graph "
                            "per layer); drop --reuse-factor or use --strategy Resource")  # fmt: skip
        uses_da = self.strategy == "distributed_arithmetic" or any(
            str(o.get("strategy", "")).lower() == "distributed_arithmetic" for o in self.layer_overrides.values()
        )
        if uses_da and importlib.util.find_spec("da4ml") is None:
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
        """JSON-ready; ``ExportOptions(**d)`` gives the options back."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["layer_overrides"] = {name: dict(o) for name, o in self.layer_overrides.items()}
        return d


def check_strategy(backend: str, strategy: str, where: str) -> None:
    """One line when ``backend`` does not implement ``strategy`` (hls4ml would replace it without a word)."""
    allowed = BACKEND_STRATEGIES[backend]
    if strategy not in allowed:
        only = "only " if len(allowed) == 1 else ""
        raise UserError(f"{where} {strategy}: hls4ml 1.3's {backend} backend implements {only}"
                        f"{', '.join(allowed)} for Linear/Conv layers and would switch silently; use "
                        f"--strategy {allowed[0]} or another backend")  # fmt: skip
