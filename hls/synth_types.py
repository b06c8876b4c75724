"""The data types of :mod:`hls.synth_report`: :class:`SynthesisReport` and the number helpers its readers share.

Units as in :mod:`hls.synth_report`: resource counts as reported, ``bram`` in BRAM_18K blocks, ``bram36`` =
ceil(bram / 2) 36 Kb tiles, latency and interval in clock cycles, clocks in ns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SynthesisReport", "SynthesisReportMissing", "TOTAL_KEYS", "LAYER_KEYS", "XILINX_UNITS", "INTEL_UNITS",
           "Number", "quiet_call", "as_number", "bram36_of", "rel_path"]  # fmt: skip

Number = int | float | None
#: keys of :attr:`SynthesisReport.totals` (Intel backends add ``ram_blocks`` and ``mlab``)
TOTAL_KEYS = ("lut", "ff", "dsp", "bram", "bram36", "uram", "latency_min", "latency_max", "interval_min",
              "interval_max", "clock_target_ns", "clock_estimated_ns")  # fmt: skip
#: keys of each :attr:`SynthesisReport.per_layer` entry (plus ``modules``: the module names summed)
LAYER_KEYS = ("lut", "ff", "dsp", "bram", "bram36", "latency", "ii")
XILINX_UNITS = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram": "BRAM_18K", "bram36": "BRAM36", "uram": "URAM",
                "latency": "cycles", "interval": "cycles", "clock": "ns"}  # fmt: skip
INTEL_UNITS = {"lut": "ALUT", "ff": "register", "dsp": "DSP block", "ram_blocks": "RAM block (M20K)",
               "mlab": "MLAB", "latency": "cycles", "interval": "cycles", "clock": "ns"}  # fmt: skip


class SynthesisReportMissing(UserWarning):
    """:func:`read_synthesis_report` found no report; the message says why."""


@dataclass
class SynthesisReport:
    """One project's synthesis numbers (sources and units: :mod:`hls.synth_report`).

    ``files``: the report files read, relative to ``project_dir``. ``totals``: the HLS tool's report of the whole
    design (:data:`TOTAL_KEYS`; None where it says nothing). ``available``: the part's resources, when reported.
    ``per_layer``: ``{hls4ml layer name: {lut, ff, dsp, bram, bram36, latency, ii, modules}}`` (latency summed and
    ii the largest over a layer's modules). ``per_layer_source``: where ``per_layer`` came from. ``modules``: every
    module report read, ``{module: {layer, instances, lut, ..., ii, file}}`` (``instances``: how often it
    counts in ``per_layer``, 0 for a nested module). ``post_synthesis``: logic synthesis
    (Vivado ``synth_design``, Quartus fit), None when it did not run.
    """

    backend: str
    project_dir: str
    files: list[str]
    totals: dict[str, Number]
    available: dict[str, Number] = field(default_factory=dict)
    per_layer: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_layer_source: str = ""
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    post_synthesis: dict[str, Any] | None = None
    units: dict[str, str] = field(default_factory=lambda: dict(XILINX_UNITS))
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (``json.dumps`` works; :meth:`from_dict` reads it back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthesisReport:
        """The report :meth:`to_dict` wrote (extra keys, e.g. ``found`` of a csq_report section, are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def quiet_call(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, str]:
    """``fn(*args)`` with its prints captured: (result or the exception, printed text)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # hls4ml's readers index and open files without checking; the caller says why
            result = exc
    return result, " ".join(out.getvalue().split())


def as_number(text: Any) -> Number:
    """``"12"`` -> 12, ``"3.5"`` -> 3.5; None, ``""``, ``"undef"``, ``"?"``, ``"N/A"`` -> None."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return text
    s = str(text).strip().replace(",", "")
    try:
        return int(s)
    except ValueError:
        try:
            value = float(s)
        except ValueError:
            return None
        return value if math.isfinite(value) else None


def bram36_of(bram18: Number) -> Number:
    """36 Kb tiles for ``bram18`` 18 Kb blocks paired two to a tile: ceil(bram18 / 2) (None stays None)."""
    return None if bram18 is None else math.ceil(bram18 / 2)


def rel_path(path: Path, root: Path) -> str:
    """``path`` relative to the project directory, as ``files`` lists it."""
    return str(path.relative_to(root))
