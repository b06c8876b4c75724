"""Quartus, oneAPI and Catapult synthesis reports through hls4ml's readers (see :mod:`hls.synth_report`).

Units: Intel resources in ALUTs, registers, DSP blocks, RAM blocks and MLABs (``INTEL_UNITS``); Catapult's Vivado
utilisation in LUT, FF, DSP and BRAM_18K; latency and II in clock cycles; clocks in ns (fmax in MHz).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .synth_types import INTEL_UNITS, TOTAL_KEYS, SynthesisReport, as_number, bram36_of, quiet_call, rel_path

__all__ = ["read_quartus", "read_oneapi", "read_catapult"]


def read_quartus(root: Path, backend: str, project_name: str) -> SynthesisReport | str:
    """HLS estimate (``totals``; latency and II from the simulation, when it ran) and the Quartus fit, when it ran;
    the reason when there is none."""
    if not (root / "build_lib.sh").is_file():
        return f"no build_lib.sh in {root}: not a written hls4ml Quartus project"
    if importlib.util.find_spec("calmjs") is None:
        return "hls4ml's Quartus report reader needs calmjs.parse: pip install 'hls4ml[quartus-report]'"
    from hls4ml.report import parse_quartus_report

    raw, printed = quiet_call(parse_quartus_report, str(root), write_to_file=False)
    if not isinstance(raw, dict) or "HLS Estimate ALUT" not in raw:
        why = f"{type(raw).__name__}: {raw}" if isinstance(raw, Exception) else printed
        return f"no Quartus HLS report in {root} (run hls_model.build(synth=True); hls4ml: {why})"
    g = lambda k: as_number(raw.get(k))  # noqa: E731
    totals = {**dict.fromkeys(TOTAL_KEYS), "lut": g("HLS Estimate ALUT"), "ff": g("HLS Estimate FF"),
              "dsp": g("HLS Estimate DSP"), "ram_blocks": g("HLS Estimate RAM"), "mlab": g("HLS Estimate MLAB"),
              "latency_min": g("Latency (MIN)"), "latency_max": g("Latency (MAX)"), "interval_min": g("ii (MIN)"),
              "interval_max": g("ii (MAX)")}  # fmt: skip
    rpt = f"{project_name}-fpga.prj/reports/lib/"
    files = ["build_lib.sh", *(rpt + f for f in ("report_data.js", "verification_data.js", "quartus_data.js")
                               if (root / rpt / f).is_file())]  # fmt: skip
    report = SynthesisReport(backend, str(root), files, totals, units=dict(INTEL_UNITS),
                             per_layer_source="none: hls4ml's Quartus reader has no per-layer data")  # fmt: skip
    if "Clock" in raw:
        report.post_synthesis = {"tool": "Quartus fit (quartus_data.js)", "clock": raw["Clock"],
                                 "alm": g("Quartus ALM"), "ff": g("Quartus REG"), "dsp": g("Quartus DSP"),
                                 "ram_blocks": g("Quartus RAM"), "mlab": g("Quartus MLAB")}  # fmt: skip
    return report


def read_oneapi(root: Path, backend: str, project_name: str) -> SynthesisReport | str:
    """HLS estimate (``totals``; latency and II of the worst loop) and the Quartus fit of an ``fpga`` target."""
    from hls4ml.report import parse_oneapi_report

    raw, printed = quiet_call(parse_oneapi_report, str(root))
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, dict) for v in raw.values()):
        why = f"{type(raw).__name__}: {raw}" if isinstance(raw, Exception) else printed or "no *.prj directory"
        return f"no oneAPI report in {root} (hls4ml: {why})"
    target = "fpga" if "fpga" in raw else next(iter(raw))
    rep = raw[target]
    hls_total, avail, loop = rep["HLS"]["total"], rep["HLS"]["available"], rep.get("Loop", {})
    freq = as_number(loop.get("worstFrequency"))
    h = lambda k: as_number(hls_total.get(k))  # noqa: E731
    totals = {**dict.fromkeys(TOTAL_KEYS), "lut": h("alut"), "ff": h("reg"), "dsp": h("dsp"), "ram_blocks": h("ram"),
              "mlab": h("mlab"), "latency_max": as_number(loop.get("worstLatency")),
              "interval_max": as_number(loop.get("worstII")),
              "clock_estimated_ns": 1e3 / freq if freq and freq < 1e9 else None}  # fmt: skip
    available = {k: as_number(avail.get(s)) for k, s in (("lut", "alut"), ("ff", "reg"), ("dsp", "dsp"),
                 ("ram_blocks", "ram"), ("mlab", "mlab")) if avail.get(s) is not None}  # fmt: skip
    files = sorted(rel_path(p, root) for p in root.glob("*/*.prj/reports/resources/json/*.ndjson"))
    report = SynthesisReport(
        backend,
        str(root),
        files,
        totals,
        available,
        units=dict(INTEL_UNITS),
        per_layer_source="none: hls4ml's oneAPI reader has no per-layer data",
        notes=[f"target {target!r}; latency and II are the worst loop's (loop_attr.ndjson)"],
    )
    if "Quartus" in rep:
        q = rep["Quartus"]
        report.post_synthesis = {
            "tool": "Quartus fit (quartus.ndjson)",
            "fmax_mhz": as_number(q.get("fmax")),
            **{k: as_number(q.get(k)) for k in ("alm", "alut", "reg", "dsp", "ram", "mlab")},
        }
    return report


def read_catapult(root: Path, backend: str, project_name: str) -> SynthesisReport | str:
    """Vivado's utilisation of Catapult's RTL (``post_synthesis``); hls4ml reads no Catapult latency."""
    if not (root / "hls4ml_config.yml").is_file():
        return f"no hls4ml_config.yml in {root}: not a written hls4ml Catapult project"
    from hls4ml.report import parse_catapult_report

    raw, printed = quiet_call(parse_catapult_report, str(root))
    if not isinstance(raw, dict) or "UtilizationReport" not in raw:
        why = f"{type(raw).__name__}: {raw}" if isinstance(raw, Exception) else printed
        return f"no Catapult utilisation report in {root} (hls4ml: {why})"
    u = {k: as_number(v) for k, v in raw["UtilizationReport"].items()}
    post = {"tool": "Vivado synthesis of Catapult's RTL (vivado_concat_v/utilization_synth.rpt)", "lut": u.get("LUT"),
            "ff": u.get("FF"), "dsp": u.get("DSP48E"), "bram": u.get("BRAM_18K"),
            "bram36": bram36_of(u.get("BRAM_18K")), "uram": u.get("URAM")}  # fmt: skip
    return SynthesisReport(
        backend,
        str(root),
        ["hls4ml_config.yml"],
        dict.fromkeys(TOTAL_KEYS),
        per_layer_source="none: hls4ml's Catapult reader has no per-layer data",
        post_synthesis=post,
        notes=["Catapult's own rtl.rpt (latency) is not parsed by hls4ml"],
    )
