"""``--build``: the vendor flow on an exported, checked project, and its report beside csq-hw's estimates.

Data flow: :class:`BuildSteps` (which steps the user asked for) -> the backend's ``hls_model.build(...)`` arguments
(:func:`build_arguments`; hls4ml 1.3.0's signatures differ per backend) -> the vendor tool runs in the project ->
:func:`hls.synth_report.read_synthesis_report` parses what it wrote (hls4ml.report's readers) ->
``csq_report.json`` gains ``synthesis`` (totals, per layer where the report has them) and
``estimate_vs_synthesis`` (csq-hw's estimates against synthesis, also as ``estimate_vs_synthesis.csv`` and
``.png``). The vendor tool must be on PATH; without it a one-line error names it and the project stays as
written and checked.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from csq_hw.errors import UserError
from csq_hw.runtime.atomic_io import write_json

from .check import REPORT_NAME
from .config import BUILD_TOOLS, ExportOptions

__all__ = ["BuildSteps", "build_arguments", "build_project", "attach_synthesis"]


@dataclass(frozen=True)
class BuildSteps:
    """What ``--build`` runs after HLS synthesis (always on).

    Attributes:
        csim: the vendor C simulation with the project's testbench and ``tb_data`` vectors.
        cosim: RTL co-simulation (the same testbench against the synthesized RTL; its II and latency are measured).
        export_ip: package the design as an IP (Vivado/Vitis ``export_design``, Catapult's export).
        vsynth: logic synthesis after HLS (Vivado/Vitis ``vsynth``: LUT/FF from the synthesized netlist, not HLS's
            estimate; Quartus: FPGA compile; oneAPI: the FPGA image).
    """

    csim: bool = False
    cosim: bool = False
    export_ip: bool = False
    vsynth: bool = False


def build_arguments(backend: str, steps: BuildSteps) -> list[dict[str, Any]]:
    """The ``hls_model.build(**kwargs)`` calls for ``backend`` (one call except on oneAPI, one per build type).

    Raises :class:`UserError` for a step the backend's hls4ml ``build`` does not have.
    """
    if backend in ("Vitis", "Vivado", "Catapult"):
        return [dict(csim=steps.csim, synth=True, cosim=steps.cosim, export=steps.export_ip, vsynth=steps.vsynth)]
    if backend == "Quartus":
        asked = [name for name, on in (("--csim", steps.csim), ("--cosim", steps.cosim),
                                       ("--export-ip", steps.export_ip)) if on]  # fmt: skip
        if asked:
            raise UserError(f"{', '.join(asked)}: hls4ml 1.3's Quartus build runs i++ synthesis and, with --vsynth, "
                            "the Quartus compile only; leave them out or use another backend")  # fmt: skip
        return [dict(synth=True, fpgasynth=steps.vsynth)]
    if backend == "oneAPI":
        if steps.export_ip:
            raise UserError("--export-ip: hls4ml 1.3's oneAPI build has no IP export; use --vsynth for the FPGA "
                            "image")  # fmt: skip
        calls = [dict(build_type="report")]
        calls += [dict(build_type="fpga_emu", run=True)] if steps.csim else []
        calls += [dict(build_type="fpga_sim", run=True)] if steps.cosim else []
        return calls + ([dict(build_type="fpga")] if steps.vsynth else [])
    raise UserError(f"no build for backend {backend!r}")  # pragma: no cover - ExportOptions checks the name


def build_project(result: Any, steps: BuildSteps | None = None) -> dict[str, Any] | None:
    """Run the vendor flow on an exported project (an :class:`hls.export.ExportResult`) and attach its report.

    Returns the parsed synthesis report as written into ``csq_report.json`` (``None`` when the tool wrote none).
    """
    steps = steps or BuildSteps()
    options = ExportOptions(**result.report["options"])
    out_dir = Path(result.out_dir)
    calls = build_arguments(options.backend, steps)
    tool = BUILD_TOOLS[options.backend]
    if shutil.which(tool) is None:
        raise UserError(
            f"--build needs {tool!r} on PATH ({options.backend} backend) and it is not installed; the project in "
            f"{out_dir} is written and its C simulation checked; run synthesis where the vendor tools are"
        )
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            for kwargs in calls:
                result.hls_model.build(**kwargs)
    except Exception as exc:
        (out_dir / "build.log").write_text(log.getvalue())
        raise UserError(f"the {options.backend} build failed ({type(exc).__name__}: {exc}); the log is in "
                        f"{out_dir / 'build.log'}, the project as exported") from None  # fmt: skip
    (out_dir / "build.log").write_text(log.getvalue())
    return attach_synthesis(out_dir, result.report, steps)


def attach_synthesis(out_dir: Path, report: dict[str, Any], steps: BuildSteps | None = None) -> dict[str, Any] | None:
    """Read the synthesis report in ``out_dir`` and write it, and the estimate table, into ``csq_report.json``.

    Also writes ``estimate_vs_synthesis.csv`` and ``.png`` beside it (:func:`hls.synth_report.synthesis_section`).
    ``report`` (the dict of ``csq_report.json``) is updated in place: ``build`` (the steps), ``synthesis`` (the
    parsed report, or ``found: false`` and the reason) and ``estimate_vs_synthesis`` (the table's rows; a ratio
    against a zero synthesis count is null). Returns the synthesis section, or ``None`` when none was found.
    """
    from .synth_compare import estimate_vs_synthesis
    from .synth_report import find_synthesis_report, synthesis_section

    report["build"] = asdict(steps or BuildSteps())
    section = synthesis_section(out_dir, report)
    report["synthesis"] = section
    if section["found"]:
        options = report["options"]
        found = find_synthesis_report(out_dir, options["backend"], options["project_name"])
        table = estimate_vs_synthesis(report["costs"], found, report.get("hls_layer_names"))
        report["estimate_vs_synthesis"] = json.loads(table.to_json(orient="records"))
    write_json(out_dir / REPORT_NAME, report)
    return section if section["found"] else None
