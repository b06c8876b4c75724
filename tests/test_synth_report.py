"""hls.synth_report / hls.synth_compare / csq_hw.plots.plot_estimate_vs_synthesis on hand-written report fixtures.

The fixtures (tests/fixtures/reports, see its README) follow the vendor layout hls4ml's parse_vivado_report reads;
every expected number below is copied by hand from those files, every ratio worked out by hand.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from csq_hw.plots import plot_estimate_vs_synthesis
from hls.synth_compare import COLUMNS
from hls.synth_report import (
    SynthesisReport,
    SynthesisReportMissing,
    estimate_vs_synthesis,
    find_synthesis_report,
    read_synthesis_report,
    synthesis_section,
)
from hls.synth_xilinx import layer_of_config

REPORTS = Path(__file__).parent / "fixtures" / "reports"
VITIS, VIVADO = REPORTS / "vitis" / "csq_prj", REPORTS / "vivado" / "csq_prj"
SYN = "csq_prj_prj/solution1/syn/report"
NAMES = {"0": "_0_layer", "2": "_2_layer", "4": "_4_layer"}  # csq_report.json's hls_layer_names

# csq_report.json "costs" as hls/costs.py::cost_estimates writes them (numbers made up)
VITIS_COSTS = {
    "models": {"bops": 250000.0, "lut": 15000.0, "ff": 3000.0, "dsp": 4.0, "bram": 0.0, "size": 26000.0},
    "da4ml": {"total": 16000.0, "latency": 12.0, "complete": True, "note": "...", "layers": {
        "0": {"cost": 9600.0, "instances": 1, "latency": 5.0, "seconds": 1.2},
        "2": {"cost": 4800.0, "instances": 1, "latency": 4.0, "seconds": 0.6},
        "4": {"cost": 1600.0, "instances": 1, "latency": 3.0, "seconds": 0.1}}},
}  # fmt: skip
VIVADO_COSTS = {
    "models": {"lut": 16000.0, "lut:da": 14000.0, "ff": 8000.0, "dsp": 64.0, "bram": 10.0,
               "energy": "error: CostError: no table", "latency:bismo": 900.0},
    "da4ml": {"total": 15000.0, "latency": 9.0, "complete": False, "layers": {
        "0": {"cost": 11000.0, "instances": 1, "latency": 4.0, "seconds": 2.0},
        "2": {"cost": 3000.0, "instances": 1, "latency": 3.0, "seconds": 0.5},
        "4": {"skipped": "time budget of 30 s spent"}}},
}  # fmt: skip


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "csq_prj"
    shutil.copytree(src, dst)
    return dst


def test_vitis_totals_are_the_fixture_numbers():
    r = read_synthesis_report(VITIS, "Vitis")
    assert isinstance(r, SynthesisReport) and r.backend == "Vitis"
    # csq_prj_csynth.xml: LUT 15517, FF 2843, DSP 0, BRAM_18K 0, URAM 0; latency 7/7, Interval 1/1, 5.00 / 3.912 ns
    assert r.totals == {"lut": 15517, "ff": 2843, "dsp": 0, "bram": 0, "bram36": 0, "uram": 0, "latency_min": 7,
                        "latency_max": 7, "interval_min": 1, "interval_max": 1, "clock_target_ns": 5.0,
                        "clock_estimated_ns": 3.912}  # fmt: skip
    # AvailableResources of xcvu13p: BRAM_18K 5376, DSP 12288, FF 3456000, LUT 1728000, URAM 1280
    assert r.available == {"lut": 1728000, "ff": 3456000, "dsp": 12288, "bram": 5376, "uram": 1280}
    assert r.post_synthesis is None  # no vivado_synth.rpt (vsynth did not run)
    assert {"project.tcl", "csq_prj_prj/hls.app", f"{SYN}/csq_prj_csynth.xml", "firmware/csq_prj.cpp"} <= set(r.files)


def test_vitis_per_layer_rows_from_the_module_reports():
    r = read_synthesis_report(VITIS, "Vitis")
    # module reports: config3 -> _0_layer (LUT 9120, FF 1605, latency 2, II 1), relu_config4 -> _1 (448, 0, 0, 1),
    # config6 -> _2_layer (4586, 820, 2, 1), config9 -> _4_layer (1133, 312, 2, 1); relu_config7 (_3) inlined
    expect = {"_0_layer": (9120, 1605, 2, 1), "_1": (448, 0, 0, 1), "_2_layer": (4586, 820, 2, 1),
              "_4_layer": (1133, 312, 2, 1)}  # fmt: skip
    assert set(r.per_layer) == set(expect)
    for layer, (lut, ff, latency, ii) in expect.items():
        row = r.per_layer[layer]
        assert (row["lut"], row["ff"], row["dsp"], row["bram"], row["bram36"]) == (lut, ff, 0, 0, 0)
        assert (row["latency"], row["ii"]) == (latency, ii) and len(row["modules"]) == 1
    assert "RTLDesignHierarchy" in r.per_layer_source
    assert sum(row["lut"] for row in r.per_layer.values()) <= r.totals["lut"]  # 15287 <= 15517 (top adds glue)


def test_vivado_totals_post_synthesis_and_layers():
    r = read_synthesis_report(VIVADO, "Vivado")
    # csq_prj_csynth.xml: LUT 20555, FF 10448, DSP48E 80, BRAM_18K 24 -> bram36 ceil(24 / 2) = 12; latency 15, II 4
    t = r.totals
    assert (t["lut"], t["ff"], t["dsp"], t["bram"], t["bram36"]) == (20555, 10448, 80, 24, 12)
    assert (t["latency_min"], t["latency_max"], t["interval_min"], t["interval_max"]) == (15, 15, 4, 4)
    assert (t["clock_target_ns"], t["clock_estimated_ns"]) == (5.0, 4.374)
    # vivado_synth.rpt: CLB LUTs 17342, CLB Registers 9876, Block RAM Tile 12 (= 2 x 12 = 24 RAMB18), DSPs 80
    p = r.post_synthesis
    assert (p["lut"], p["ff"], p["dsp"], p["bram36"], p["bram"], p["uram"]) == (17342, 9876, 80, 12, 24, 0)
    assert "vivado_synth.rpt" in r.files and "csq_prj_prj/vivado_hls.app" in r.files
    # two module reports: config3 -> _0_layer (12480 LUT, 6210 FF, 16 BRAM_18K = 8 BRAM36, latency 5, II 4),
    # config6 -> _2_layer (6215, 3051, 8 = 4, 5, 4); no hierarchy in Vivado HLS's top report
    assert {k: (v["lut"], v["ff"], v["bram"], v["bram36"], v["latency"], v["ii"]) for k, v in r.per_layer.items()} == {
        "_0_layer": (12480, 6210, 16, 8, 5, 4), "_2_layer": (6215, 3051, 8, 4, 5, 4)}  # fmt: skip
    assert "no <RTLDesignHierarchy>" in r.per_layer_source


def test_a_nested_module_is_not_counted_twice(tmp_path):
    prj = _copy(VITIS, tmp_path)
    report = prj / SYN
    inner = "mult_ap_fixed_7_3_0_0_0_config3_s"  # a module config3's module instantiates: not under the top
    shutil.copy(report / "dense_latency_ap_fixed_7_3_0_0_0_ap_fixed_13_8_5_3_0_config3_s_csynth.xml",
                report / f"{inner}_csynth.xml")  # fmt: skip
    r = read_synthesis_report(prj, "Vitis")
    assert r.modules[inner]["layer"] == "_0_layer" and r.modules[inner]["instances"] == 0
    assert r.per_layer["_0_layer"]["lut"] == 9120


def test_firmware_mapping_takes_trailing_and_block_comments(tmp_path):
    cpp = tmp_path / "p.cpp"
    cpp.write_text("    // hls-fpga-machine-learning insert layers\n"
                   "    nnet::dense<a_t, b_t, config2>(x, y, w2, b2); // fc1\n\n"
                   "    // conv\n    nnet::conv_2d_cl<b_t, c_t, config5>(y, z, w5, b5);\n"
                   "    nnet::relu<c_t, d_t, relu_config5_x>(z, q);\n\n"
                   "    nnet::linear<d_t, e_t, linear_config7>(q, out); // act\n")  # fmt: skip
    assert layer_of_config(cpp) == {2: "fc1", 5: "conv", 7: "act"}


@pytest.mark.parametrize(
    ("setup", "backend", "reason"),
    [
        ("none", "Vitis", "no project directory"),
        ("tcl", "Vitis", "synthesis has not run"),
        ("no-top", "Vivado", "C synthesis has not run"),
        ("empty", "Vivado", "no project.tcl"),
        ("empty", "Libero", "no synthesis report reader for backend 'Libero'"),
        ("empty", "Quartus", "no build_lib.sh"),
        ("empty", "Catapult", "no hls4ml_config.yml"),
        ("empty", "oneAPI", "no oneAPI report"),
    ],
)
def test_missing_report_is_none_with_a_reason(tmp_path, setup, backend, reason):
    prj = tmp_path / "prj"
    if setup != "none":
        prj.mkdir()
    if setup in ("tcl", "no-top"):
        shutil.copy(VIVADO / "project.tcl", prj / "project.tcl")
    if setup == "no-top":
        shutil.copytree(VIVADO / "csq_prj_prj", prj / "csq_prj_prj")
        (prj / SYN / "csq_prj_csynth.xml").unlink()
    with pytest.warns(SynthesisReportMissing, match=reason):
        assert read_synthesis_report(prj, backend) is None
    assert reason in find_synthesis_report(prj, backend)


def test_quartus_without_calmjs_says_what_to_install(tmp_path):
    pytest.importorskip("hls4ml")
    if __import__("importlib").util.find_spec("calmjs") is not None:
        pytest.skip("calmjs.parse is installed")
    (tmp_path / "build_lib.sh").write_text("PROJECT=csq_prj\n")
    assert "hls4ml[quartus-report]" in find_synthesis_report(tmp_path, "Quartus")


def test_without_a_solution_list_solution1_is_read_directly(tmp_path):
    prj = _copy(VITIS, tmp_path)
    (prj / "csq_prj_prj" / "hls.app").unlink()  # hls4ml's parse_vivado_report then fails on solutions[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = read_synthesis_report(prj, "Vitis")
    assert r.totals["lut"] == 15517 and r.totals["latency_max"] == 7 and r.available["dsp"] == 12288
    assert any("solution1 read directly" in n for n in r.notes) and len(r.per_layer) == 4


def test_the_dict_round_trips_through_json():
    for prj, backend in ((VITIS, "Vitis"), (VIVADO, "Vivado")):
        r = read_synthesis_report(prj, backend)
        back = json.loads(json.dumps(r.to_dict()))
        assert back == r.to_dict() and SynthesisReport.from_dict(back) == r


def test_table_ratios_vivado_by_hand():
    r = read_synthesis_report(VIVADO, "Vivado")
    t = estimate_vs_synthesis(VIVADO_COSTS, r, NAMES)
    assert list(t.columns) == list(COLUMNS)
    got = {(row.layer, row.resource, row.model, row.stage): (row.estimate, row.synthesis, row.ratio)
           for row in t.itertuples()}  # fmt: skip
    # da4ml incomplete: no da4ml totals; "energy" failed, "latency:bismo" and "bops" are not FPGA resources
    expect = {
        ("TOTAL", "lut", "lut", "hls"): (16000, 20555, 16000 / 20555),  # 0.7784
        ("TOTAL", "lut", "lut:da", "hls"): (14000, 20555, 14000 / 20555),  # 0.6811
        ("TOTAL", "ff", "ff", "hls"): (8000, 10448, 8000 / 10448),  # 0.7657
        ("TOTAL", "dsp", "dsp", "hls"): (64, 80, 0.8),
        ("TOTAL", "bram", "bram", "hls"): (10, 12, 10 / 12),  # BRAM36 vs ceil(24 / 2)
        ("TOTAL", "lut", "lut", "post-synthesis"): (16000, 17342, 16000 / 17342),  # 0.9226
        ("TOTAL", "lut", "lut:da", "post-synthesis"): (14000, 17342, 14000 / 17342),
        ("TOTAL", "ff", "ff", "post-synthesis"): (8000, 9876, 8000 / 9876),
        ("TOTAL", "dsp", "dsp", "post-synthesis"): (64, 80, 0.8),
        ("TOTAL", "bram", "bram", "post-synthesis"): (10, 12, 10 / 12),  # Block RAM Tile 12
        ("0", "lut", "da4ml", "hls"): (11000, 12480, 11000 / 12480),  # 0.8814
        ("0", "latency", "da4ml", "hls"): (4, 5, 0.8),
        ("2", "lut", "da4ml", "hls"): (3000, 6215, 3000 / 6215),  # 0.4827
        ("2", "latency", "da4ml", "hls"): (3, 5, 0.6),
    }
    assert set(got) == set(expect)
    for key, (e, s, ratio) in expect.items():
        assert got[key] == pytest.approx((e, s, ratio), rel=1e-12), key
    assert set(t.loc[t.layer == "0", "hls_layer"]) == {"_0_layer"}
    assert t.loc[t.resource == "bram", "synthesis_unit"].iloc[0].startswith("BRAM36")


def test_table_zero_synthesis_and_complete_da4ml():
    r = read_synthesis_report(VITIS, "Vitis")
    t = estimate_vs_synthesis(VITIS_COSTS, r.to_dict(), NAMES)  # the dict form works too
    total = t[t.layer == "TOTAL"].set_index(["resource", "model"])["ratio"]
    assert total[("lut", "lut")] == pytest.approx(15000 / 15517)
    assert total[("lut", "da4ml")] == pytest.approx(16000 / 15517)
    assert total[("latency", "da4ml")] == pytest.approx(12 / 7)  # adder levels per cycle
    assert total[("dsp", "dsp")] == math.inf  # 4 estimated, 0 synthesised
    assert total[("bram", "bram")] == 1.0  # 0 and 0 agree
    layers = t[t.layer != "TOTAL"].set_index(["hls_layer", "resource"])["ratio"]
    assert layers.to_dict() == pytest.approx({("_0_layer", "lut"): 9600 / 9120, ("_0_layer", "latency"): 2.5,
        ("_2_layer", "lut"): 4800 / 4586, ("_2_layer", "latency"): 2.0, ("_4_layer", "lut"): 1600 / 1133,
        ("_4_layer", "latency"): 1.5})  # fmt: skip
    assert len(t) == 12 and (t.stage == "hls").all()


def _points(fig: Figure) -> int:
    return sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections)


def test_plot_draws_a_point_per_positive_row_on_log_axes(tmp_path):
    t = estimate_vs_synthesis(VITIS_COSTS, read_synthesis_report(VITIS, "Vitis"), NAMES)
    fig = plot_estimate_vs_synthesis(t, tmp_path / "cmp.png")
    assert isinstance(fig, Figure) and (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"
    assert _points(fig) == 12 - 2  # dsp (0 synthesised) and bram (0 / 0) cannot sit on a log axis
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any("DSP" in s and "not drawn" in s for s in labels) and "estimate = synthesis" in labels
    vivado = estimate_vs_synthesis(VIVADO_COSTS, read_synthesis_report(VIVADO, "Vivado"), NAMES)
    assert _points(plot_estimate_vs_synthesis(vivado)) == 14  # every row positive


def test_plot_linear_when_within_a_decade_and_from_the_csv(tmp_path):
    t = pd.DataFrame({"layer": ["TOTAL", "0"], "resource": ["lut", "lut"], "model": ["lut", "da4ml"],
                      "stage": ["hls", "hls"], "estimate": [50.0, 0.0], "synthesis": [40.0, 30.0]})  # fmt: skip
    fig = plot_estimate_vs_synthesis(t)
    assert fig.axes[0].get_xscale() == "linear" and _points(fig) == 2  # a 0 can be drawn on a linear axis


def test_synthesis_section_writes_csv_and_png(tmp_path):
    prj = _copy(VIVADO, tmp_path)
    csq_report = {"options": {"backend": "Vivado"}, "costs": VIVADO_COSTS, "hls_layer_names": NAMES}
    section = synthesis_section(prj, csq_report)
    assert section["found"] and section["totals"]["lut"] == 20555
    assert section["comparison"] == {"rows": 14, "csv": "estimate_vs_synthesis.csv", "png": "estimate_vs_synthesis.png"}
    back = pd.read_csv(prj / "estimate_vs_synthesis.csv", dtype={"layer": str})
    assert len(back) == 14 and _points(plot_estimate_vs_synthesis(back)) == 14
    assert (prj / "estimate_vs_synthesis.png").read_bytes()[:4] == b"\x89PNG"
    json.dumps(section)  # JSON-ready for csq_report.json
    missing = synthesis_section(tmp_path / "nowhere", csq_report)
    assert missing == {"found": False, "reason": f"no project directory {tmp_path / 'nowhere'}"}
