"""Vitis and Vivado synthesis reports: hls4ml's ``parse_vivado_report`` for the totals, the per-module
``<module>_csynth.xml`` files for the layers (see :mod:`hls.synth_report` for the files and the layer mapping).

Units: resource counts as reported (``bram`` BRAM_18K blocks, ``bram36`` = ceil(bram / 2)), latency and II in clock
cycles, clocks in ns.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .synth_types import LAYER_KEYS, SynthesisReport, as_number, bram36_of, quiet_call, rel_path

__all__ = ["read_csynth_xml", "layer_of_config", "read_xilinx"]


def read_csynth_xml(path: str | Path) -> dict[str, Any]:
    """One ``<module>_csynth.xml`` (``<profile>``, top or module): module name (from the file name), resources,
    latency (worst case), II, estimated clock.

    II: ``Interval-max``, else ``PipelineInitiationInterval`` (the larger end of ``"a ~ b"``). DSP: ``<DSP>``
    (Vitis) or ``<DSP48E>`` (Vivado HLS).
    """
    root = ET.parse(path).getroot()
    text = lambda at: (root.findtext(at) or "").strip() or None  # noqa: E731
    lat = "./PerformanceEstimates/SummaryOfOverallLatency/"
    res = "./AreaEstimates/Resources/"
    ii = as_number(text(lat + "Interval-max"))
    if ii is None and text(lat + "PipelineInitiationInterval"):
        ii = max((as_number(p) or 0) for p in text(lat + "PipelineInitiationInterval").split("~"))
    bram = as_number(text(res + "BRAM_18K"))
    return {
        "name": Path(path).name.removesuffix("_csynth.xml"),  # the module; TopModelName may be the design's top
        "lut": as_number(text(res + "LUT")),
        "ff": as_number(text(res + "FF")),
        "dsp": as_number(text(res + "DSP") or text(res + "DSP48E")),
        "bram": bram,
        "bram36": bram36_of(bram),
        "latency": as_number(text(lat + "Worst-caseLatency")),
        "ii": ii,
        "clock_estimated_ns": as_number(text("./PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
    }


def layer_of_config(cpp: Path) -> dict[int, str]:
    """``{N: layer}`` from ``firmware/<project>.cpp``: each call line's ``configN`` and its ``// layer`` comment
    (or the ``// layer`` line above a multi-line call)."""
    out: dict[int, str] = {}
    current = None
    for line in cpp.read_text(errors="replace").splitlines():
        code, _, comment = line.partition("//")
        if not code.strip():
            alone = re.fullmatch(r"\s*(\w+)\s*", comment)
            current = alone.group(1) if alone else None
            continue
        name = comment.strip() if re.fullmatch(r"\s*\w+\s*", comment or "-") else current
        for n in re.findall(r"config(\d+)(?!\d)", code):
            if name:
                out.setdefault(int(n), name)
    return out


def _modules_under_top(top_xml: Path) -> list[str] | None:
    """Module names the top instantiates directly (one entry per instance), from ``<RTLDesignHierarchy>``."""
    node = ET.parse(top_xml).getroot().find("./RTLDesignHierarchy/TopModule/InstancesList")
    if node is None:
        return None
    return [(i.findtext("ModuleName") or "").strip() for i in node.findall("Instance")]


def _per_layer(root: Path, report_dir: Path, top_xml: Path, cpp: Path, report: SynthesisReport) -> None:
    layers = layer_of_config(cpp) if cpp.is_file() else {}
    if cpp.is_file():
        report.files.append(rel_path(cpp, root))
    else:
        report.notes.append(f"no {rel_path(cpp, root)}: modules are not assigned to layers")
    direct = _modules_under_top(top_xml)
    for path in sorted(report_dir.glob("*_csynth.xml")):
        if path == top_xml:
            continue
        try:
            mod = read_csynth_xml(path)
        except ET.ParseError as exc:
            report.notes.append(f"{rel_path(path, root)} is not XML ({exc}); skipped")
            continue
        name = mod.pop("name")
        idx = set(re.findall(r"config(\d+)(?!\d)", name))
        layer = layers.get(int(idx.pop())) if len(idx) == 1 else None
        count = direct.count(name) if direct is not None else 1
        report.modules[name] = {"layer": layer, "instances": count, **mod, "file": rel_path(path, root)}
        report.files.append(rel_path(path, root))
        if layer is None or count == 0:
            continue
        entry = report.per_layer.setdefault(layer, {**dict.fromkeys(LAYER_KEYS, 0), "modules": []})
        for k in ("lut", "ff", "dsp", "bram", "latency"):
            entry[k] = None if entry[k] is None or mod[k] is None else entry[k] + count * mod[k]
        entry["ii"] = None if mod["ii"] is None or entry["ii"] is None else max(entry["ii"], mod["ii"])
        entry["bram36"] = bram36_of(entry["bram"])
        entry["modules"].append(name)
    how = ("modules the top instantiates (<RTLDesignHierarchy>)" if direct is not None
           else "every module report once (the top report has no <RTLDesignHierarchy>)")  # fmt: skip
    report.per_layer_source = f"per-module <module>_csynth.xml in {rel_path(report_dir, root)}: {how}"


def read_xilinx(root: Path, backend: str, project_name: str) -> SynthesisReport | str:
    """The Vitis/Vivado report of the project in ``root`` (hls4ml totals + per-module layers), or why there is none."""
    if not (root / "project.tcl").is_file():
        return f"no project.tcl in {root}: not a written hls4ml {backend} project"
    prj = root / f"{project_name}_prj"
    if not prj.is_dir():
        return f"no {prj.name} in {root}: synthesis has not run (hls_model.build(synth=True))"
    report_dir = prj / "solution1" / "syn" / "report"
    top_xml = report_dir / f"{project_name}_csynth.xml"
    from hls4ml.report import parse_vivado_report

    raw, printed = quiet_call(parse_vivado_report, str(root))
    notes: list[str] = []
    if isinstance(raw, Exception) or not isinstance(raw, dict):
        if not top_xml.is_file():
            why = f"{type(raw).__name__}: {raw}" if isinstance(raw, Exception) else printed
            return f"hls4ml's parse_vivado_report found no report in {root} ({why})"
        notes.append("hls4ml's parse_vivado_report failed (no solution list?); solution1 read directly")
        try:
            raw = {"CSynthesisReport": _csynth_as_hls4ml(top_xml)}
        except ET.ParseError as exc:
            return f"{rel_path(top_xml, root)} is not a readable csynth report ({exc})"
    if "CSynthesisReport" not in raw:
        return f"no {rel_path(top_xml, root)}: C synthesis has not run or did not finish (hls_model.build(synth=True))"
    c = {k: as_number(v) for k, v in raw["CSynthesisReport"].items()}
    totals = {"lut": c.get("LUT"), "ff": c.get("FF"), "dsp": c.get("DSP"), "bram": c.get("BRAM_18K"),
              "bram36": bram36_of(c.get("BRAM_18K")), "uram": c.get("URAM"), "latency_min": c.get("BestLatency"),
              "latency_max": c.get("WorstLatency"), "interval_min": c.get("IntervalMin"),
              "interval_max": c.get("IntervalMax"), "clock_target_ns": c.get("TargetClockPeriod"),
              "clock_estimated_ns": c.get("EstimatedClockPeriod")}  # fmt: skip
    available = {k.lower(): c.get(f"Available{t}") for k, t in (("LUT", "LUT"), ("FF", "FF"), ("DSP", "DSP"),
                 ("BRAM", "BRAM_18K"), ("URAM", "URAM")) if c.get(f"Available{t}") is not None}  # fmt: skip
    app = next((p for p in (prj / "hls.app", prj / "vivado_hls.app") if p.is_file()), None)
    files = [rel_path(p, root) for p in (root / "project.tcl", app, top_xml) if p is not None]
    report = SynthesisReport(backend, str(root), files, totals, available, notes=notes)
    if "VivadoSynthReport" in raw:  # hls4ml files the "Block RAM Tile" count (36 Kb tiles) under BRAM_18K
        v = {k: as_number(x) for k, x in raw["VivadoSynthReport"].items()}
        tiles = v.get("BRAM_18K")
        report.post_synthesis = {"tool": "Vivado synth_design (vivado_synth.rpt)", "lut": v.get("LUT"),
                                 "ff": v.get("FF"), "dsp": v.get("DSP48E"), "bram36": tiles,
                                 "bram": None if tiles is None else 2 * tiles, "uram": v.get("URAM")}  # fmt: skip
        report.files.append("vivado_synth.rpt")
    _per_layer(root, report_dir, top_xml, root / "firmware" / f"{project_name}.cpp", report)
    return report


def _csynth_as_hls4ml(top_xml: Path) -> dict[str, Any]:
    """The fields hls4ml's ``CSynthesisReport`` holds, read from the top report directly."""
    root = ET.parse(top_xml).getroot()
    perf = "./PerformanceEstimates/"
    out = {"TargetClockPeriod": root.findtext("./UserAssignments/TargetClockPeriod"),
           "EstimatedClockPeriod": root.findtext(perf + "SummaryOfTimingAnalysis/EstimatedClockPeriod"),
           "BestLatency": root.findtext(perf + "SummaryOfOverallLatency/Best-caseLatency"),
           "WorstLatency": root.findtext(perf + "SummaryOfOverallLatency/Worst-caseLatency"),
           "IntervalMin": root.findtext(perf + "SummaryOfOverallLatency/Interval-min"),
           "IntervalMax": root.findtext(perf + "SummaryOfOverallLatency/Interval-max")}  # fmt: skip
    for where, prefix in (("Resources", ""), ("AvailableResources", "Available")):
        node = root.find(f"./AreaEstimates/{where}")
        for child in node if node is not None else []:
            out[prefix + ("DSP" if child.tag == "DSP48E" else child.tag)] = child.text
    return out
