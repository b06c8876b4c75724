"""The vendor synthesis report of a built hls4ml project, as numbers beside csq-hw's own estimates.

Data flow: ``project_dir`` (the hls4ml output directory, where ``csq_report.json`` lies) -> the backend's
``hls4ml.report`` parser (strings; its prints are captured, not shown) -> :class:`SynthesisReport` (ints and floats)
-> :meth:`SynthesisReport.to_dict` -> JSON. :func:`synthesis_section` does it for a built project and adds the
comparison with ``csq_report.json``'s ``costs`` (:func:`estimate_vs_synthesis`, :mod:`hls.synth_compare`:
``estimate_vs_synthesis.csv`` and ``.png``): ``csq_report.json``'s ``"synthesis"``.

What each backend gets (hls4ml 1.3.0):

* **Vitis, Vivado**: :func:`hls4ml.report.parse_vivado_report` reads ``project.tcl``, the solution list
  (``<project>_prj/hls.app`` or ``vivado_hls.app``), ``<project>_prj/solution1/syn/report/<project>_csynth.xml``
  (``totals``, ``available``) and, after ``build(vsynth=True)``, ``vivado_synth.rpt`` (``post_synthesis``: Vivado
  ``synth_design`` utilisation). Per layer (read here, hls4ml has no reader for it): every other
  ``<module>_csynth.xml`` of that report directory (same ``<profile>`` layout), assigned to an hls4ml layer through
  the ``configN`` in the module name and the ``// <layer>`` comment hls4ml writes after each call in
  ``firmware/<project>.cpp``. When the top report has an ``<RTLDesignHierarchy>`` (Vitis), only modules the top
  instantiates directly count (a nested module is inside its parent's numbers); without one (Vivado HLS) every
  module report counts once. Inlined layers have no module and no per-layer row; a module whose name holds no
  single known ``configN`` stays in ``modules`` with ``layer`` None. The ``.rpt`` instance tables are not read.
* **Quartus**: :func:`hls4ml.report.parse_quartus_report` (``build_lib.sh``, ``<project>-fpga.prj/reports/lib/
  report_data.js``, ``verification_data.js``, ``quartus_data.js``); it needs ``calmjs.parse``
  (``pip install 'hls4ml[quartus-report]'``), else None with that reason. No per-layer data.
* **oneAPI**: :func:`hls4ml.report.parse_oneapi_report` (``*.prj/reports/resources/json/*.ndjson``); latency and II
  are the worst loop's. No per-layer data.
* **Catapult**: :func:`hls4ml.report.parse_catapult_report` (``hls4ml_config.yml``, the solution's
  ``vivado_concat_v/utilization_synth.rpt``): only Vivado's utilisation of Catapult's RTL, as ``post_synthesis``.

Units: ``lut``, ``ff``, ``dsp`` counts as the tool reports them (Intel: ALUTs, registers, DSP blocks, see ``units``);
``bram`` = BRAM_18K blocks as reported (a RAMB36 counts 2); ``bram36`` = ceil(bram / 2), the 36 Kb tiles with two
18 Kb halves paired, which is what ``cost_models``' ``bram`` (BRAM36) counts; in ``post_synthesis`` ``bram36`` is
Vivado's "Block RAM Tile" count (may be fractional) and ``bram`` twice that. Latency, interval (II): clock cycles;
``clock_*_ns``: ns.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .synth_compare import estimate_vs_synthesis, write_estimate_vs_synthesis
from .synth_types import LAYER_KEYS, TOTAL_KEYS, SynthesisReport, SynthesisReportMissing
from .synth_vendors import read_catapult, read_oneapi, read_quartus
from .synth_xilinx import read_csynth_xml, read_xilinx

__all__ = ["SynthesisReport", "SynthesisReportMissing", "read_synthesis_report", "find_synthesis_report",
           "synthesis_section", "estimate_vs_synthesis", "write_estimate_vs_synthesis", "read_csynth_xml",
           "TOTAL_KEYS", "LAYER_KEYS"]  # fmt: skip

_READERS = {"vitis": read_xilinx, "vivado": read_xilinx, "quartus": read_quartus, "oneapi": read_oneapi,
            "catapult": read_catapult}  # fmt: skip


def read_synthesis_report(project_dir: str | Path, backend: str, project_name: str = "csq_prj"
                          ) -> SynthesisReport | None:  # fmt: skip
    """The synthesis report of the hls4ml project in ``project_dir``, or None with a
    :class:`SynthesisReportMissing` warning saying why (no build yet, a file missing, an unsupported backend)."""
    found = find_synthesis_report(project_dir, backend, project_name)
    if isinstance(found, str):
        warnings.warn(found, SynthesisReportMissing, stacklevel=2)
        return None
    return found


def find_synthesis_report(project_dir: str | Path, backend: str, project_name: str = "csq_prj"
                          ) -> SynthesisReport | str:  # fmt: skip
    """:func:`read_synthesis_report` without the warning: the report, or the reason there is none (one line)."""
    root = Path(project_dir)
    if not root.is_dir():
        return f"no project directory {root}"
    key = backend.lower()
    if key not in _READERS:
        return f"no synthesis report reader for backend {backend!r} (known: Vitis, Vivado, Quartus, oneAPI, Catapult)"
    return _READERS[key](root, backend, project_name)


def synthesis_section(
    out_dir: str | Path, csq_report: Mapping[str, Any], project_name: str | None = None, write_files: bool = True
) -> dict[str, Any]:
    """``csq_report.json``'s ``"synthesis"`` for the built project in ``out_dir``.

    Reads the report of ``csq_report["options"]["backend"]`` (project ``project_name``, default the options'
    ``project_name`` or ``csq_prj``); with ``write_files`` also writes the comparison with
    ``csq_report["costs"]`` (:func:`write_estimate_vs_synthesis`). Returns ``{"found": False, "reason": ...}``, or
    ``{"found": True, **report.to_dict(), "comparison": {"rows", "csv", "png"}}``.
    """
    options = csq_report.get("options", {})
    backend = str(options.get("backend", "Vitis"))
    found = find_synthesis_report(out_dir, backend, project_name or str(options.get("project_name", "csq_prj")))
    if isinstance(found, str):
        return {"found": False, "reason": found}
    section: dict[str, Any] = {"found": True, **found.to_dict()}
    costs = csq_report.get("costs")
    if isinstance(costs, Mapping):
        table = estimate_vs_synthesis(costs, found, csq_report.get("hls_layer_names"))
        section["comparison"] = {"rows": len(table)}
        if write_files:
            title = f"csq-hw estimates vs {backend} synthesis"
            section["comparison"].update(write_estimate_vs_synthesis(out_dir, table, title))
    return section
