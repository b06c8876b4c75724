"""The vendor flow around the export (#15): test vectors, a project that reopens, per-layer overrides, the part and
project name recorded, backend/strategy refusals, oneAPI, the build steps and the cost agreement."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("hls4ml")
if shutil.which("g++") is None:  # pragma: no cover
    pytest.skip("the export compiles its C simulation with g++", allow_module_level=True)

from hls_fixtures import make_run

import hls
from csq_hw.errors import UserError
from csq_hw.handoff.cost_agreement import cost_agreement
from hls.build import BuildSteps, build_arguments, build_project
from hls.config import ExportOptions
from hls.export_report import cost_agreement_of
from hls.layer_overrides import check_overrides, load_layer_overrides
from hls.reference import reference_forward
from hls.run_files import load_run
from hls.testbench import TB_DIR, TB_INPUTS, TB_OUTPUTS, printed, read_vectors, run_testbench

N_TB = 12
OVERRIDES = {"0": {"reuse_factor": 3, "strategy": "Resource"}}  # the first conv: n_in = 1 * 3 * 3, n_out = 8


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """digits-cnn exported with a project name, 12 test vectors and an override of its first conv."""
    tmp = tmp_path_factory.mktemp("flow")
    run = make_run(tmp / "run", "digits-cnn", seed=0, n_test=30)
    res = hls.export(run, tmp / "prj", project_name="my_net", tb_samples=N_TB, layer_overrides=OVERRIDES)
    assert res.passed, res.verdict
    return run, res, tmp


def _expected(run, n):
    loaded = load_run(run)
    x, _ = loaded.test_set()
    ref = reference_forward(loaded.model.eval(), loaded.precisions, x[:n])
    return x[:n], ref.codes * 2.0**-ref.f


def test_tb_data_in_hls4ml_format(exported):
    run, res, _ = exported
    x, y = _expected(run, N_TB)
    tb = res.out_dir / TB_DIR
    got_x, got_y = read_vectors(tb / TB_INPUTS), read_vectors(tb / TB_OUTPUTS)
    # one line per sample, the sample's 1 x 8 x 8 inputs flattened; the outputs are the 10 logits
    assert got_x.shape == (N_TB, 64) and got_y.shape == (N_TB, 10)
    np.testing.assert_array_equal(got_x, x.reshape(N_TB, -1).astype(np.float32))
    np.testing.assert_array_equal(got_y, y.astype(np.float32))  # dyadic logits: exact in float
    assert res.report["files"]["tb_samples"] == N_TB


def test_the_vendor_testbench_reads_the_vectors(exported):
    run, res, _ = exported
    _, y = _expected(run, N_TB)
    logged = run_testbench(res.out_dir, "my_net")  # hls4ml's my_net_test.cpp, compiled with g++, run
    np.testing.assert_array_equal(logged, printed(y))  # it prints 6 significant digits


def test_layer_overrides_reach_the_hls4ml_config(exported):
    _, res, _ = exported
    rep = res.report
    first, others = rep["hls_layer_names"]["0"], [v for k, v in rep["hls_layer_names"].items() if k != "0"]
    assert rep["layer_settings"][first] == {"ReuseFactor": 3, "Strategy": "Resource"}
    assert rep["reuse_factors"][first] == 3 and rep["types"][first]["strategy"].lower() == "resource"
    for name in others:
        assert rep["reuse_factors"][name] == 1 and rep["types"][name]["strategy"].lower() == "latency"
    import yaml

    config = yaml.safe_load((res.out_dir / "hls4ml_config.yml").read_text())  # no pickled model in it
    assert config["HLSConfig"]["LayerName"][first]["ReuseFactor"] == 3
    assert config["PytorchModel"].endswith("exact_model.pt")


def test_project_name_and_part_recorded(exported):
    _, res, _ = exported
    assert (res.out_dir / "my_net_test.cpp").is_file() and (res.out_dir / "firmware" / "my_net.cpp").is_file()
    assert res.report["options"]["project_name"] == "my_net"
    assert res.report["options"]["part"] == "xcvu13p-flga2577-2-e"  # hls4ml 1.3's Vitis default, now recorded
    assert res.report["part_requested"] is None


def test_saved_model_and_linked_project_predict_identically(exported, tmp_path):
    from hls4ml.converters import link_existing_project, load_saved_model, parse_yaml_config

    run, res, _ = exported
    x, _ = _expected(run, 20)
    want = np.asarray(res.hls_model.predict(x.astype(np.float64)))
    reloaded = load_saved_model(res.out_dir / "my_net.fml", output_dir=tmp_path / "reopened")
    reloaded.compile()
    np.testing.assert_array_equal(np.asarray(reloaded.predict(x.astype(np.float64))), want)
    assert parse_yaml_config(str(res.out_dir / "hls4ml_config.yml"))["ProjectName"] == "my_net"
    linked = link_existing_project(str(res.out_dir))
    linked.compile()
    np.testing.assert_array_equal(np.asarray(linked.predict(x.astype(np.float64))), want)


# --- refused before conversion ---------------------------------------------------------------------------------------


def test_backend_strategy_combinations(tmp_path):
    assert ExportOptions(backend="Quartus").strategy == "Resource"  # the only one it implements
    assert ExportOptions(backend="oneAPI").strategy == "Resource"
    assert ExportOptions(backend="Vitis").strategy == "Latency"
    with pytest.raises(UserError, match="Quartus backend implements only Resource .* would switch silently"):
        ExportOptions(backend="Quartus", strategy="Latency")
    with pytest.raises(UserError, match="Catapult backend implements Latency, Resource"):
        ExportOptions(backend="Catapult", strategy="distributed_arithmetic")
    run = make_run(tmp_path / "run", "digits-mlp", seed=0, n_test=5)
    with pytest.raises(UserError, match="layer '0': strategy Latency: hls4ml 1.3's Quartus backend"):
        hls.export(run, tmp_path / "prj", backend="Quartus", layer_overrides={"0": {"strategy": "latency"}})
    assert not (tmp_path / "prj").exists()


def test_oneapi_without_icpx_is_one_line(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run", "digits-mlp", seed=0, n_test=5)
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "icpx" else real(name, *a, **k))
    with pytest.raises(UserError, match=r"^backend oneAPI .* icpx .* not on PATH; install the Intel oneAPI"):
        hls.export(run, tmp_path / "prj", backend="oneAPI")
    assert not (tmp_path / "prj").exists()


def test_oneapi_converts_and_writes_the_layers_used(tmp_path):
    """hls4ml 1.3's oneAPI backend takes digits-cnn's layers (the C simulation needs icpx, absent here)."""
    from csq_hw.handoff.precision_types import Precisions
    from hls import hls4ml_handlers as handlers
    from hls.hls4ml_config import hls4ml_config, layer_settings

    loaded = load_run(make_run(tmp_path / "run", "digits-cnn", seed=0, n_test=5))
    shape = Precisions.of(loaded.precisions).model.input_shape
    module = handlers.to_hls_module(loaded.model.eval(), shape)
    names = handlers.fx_names(module)
    mac = [names[f"{la.name}.layer"] for la in Precisions.of(loaded.precisions).layers]
    options = ExportOptions(backend="oneAPI")
    cfg = hls4ml_config(module, shape, options, layer_settings(options, mac, {}))
    model = handlers.hls4ml.converters.convert_from_pytorch_model(
        module, hls_config=cfg, output_dir=str(tmp_path / "p"), project_name="p", backend="oneAPI"
    )
    model.write()
    assert (tmp_path / "p" / "CMakeLists.txt").is_file() and (tmp_path / "p" / "src").is_dir()
    assert {layer.get_attr("strategy") for layer in model.get_layers() if layer.name in mac} == {"resource"}


def test_bad_overrides(tmp_path):
    run = make_run(tmp_path / "run", "digits-cnn", seed=0, n_test=5)
    with pytest.raises(UserError, match=r"no Linear/Conv layer '1'; .*layers: 0, 3, 7"):
        hls.export(run, tmp_path / "prj", layer_overrides={"1": {"reuse_factor": 2}})
    with pytest.raises(UserError, match=r"reuse factor 5 is invalid for layer '0' \(n_in=9, n_out=8"):
        hls.export(run, tmp_path / "prj", layer_overrides={"0": {"reuse_factor": 5}})
    with pytest.raises(UserError, match="'precision' cannot be overridden"):
        check_overrides({"0": {"precision": "ap_fixed<8,3>"}})
    with pytest.raises(UserError, match="unknown setting 'reuse'; did you mean 'reuse_factor'"):
        check_overrides({"0": {"reuse": 2}})
    with pytest.raises(UserError, match="give a positive integer"):
        check_overrides({"0": {"reuse_factor": 0}})
    bad = tmp_path / "bad.toml"
    bad.write_text('["0"]\nreuse_factor = \n')
    with pytest.raises(UserError, match=r"bad.toml is not valid TOML"):
        load_layer_overrides(bad)
    good = tmp_path / "layers.json"
    good.write_text(json.dumps({"3": {"reuse_factor": 4, "strategy": "resource"}}))
    assert load_layer_overrides(good) == {"3": {"reuse_factor": 4, "strategy": "Resource"}}
    with pytest.raises(UserError, match="not a C identifier"):
        ExportOptions(project_name="2net")
    assert not (tmp_path / "prj").exists()


# --- build steps -----------------------------------------------------------------------------------------------------


def test_build_arguments_per_backend():
    all_steps = BuildSteps(csim=True, cosim=True, export_ip=True, vsynth=True)
    assert build_arguments("Vitis", all_steps) == [dict(csim=True, synth=True, cosim=True, export=True, vsynth=True)]
    assert build_arguments("Vivado", BuildSteps()) == [dict(csim=False, synth=True, cosim=False, export=False,
                                                            vsynth=False)]  # fmt: skip
    assert build_arguments("Quartus", BuildSteps(vsynth=True)) == [dict(synth=True, fpgasynth=True)]
    with pytest.raises(UserError, match="--cosim: hls4ml 1.3's Quartus build"):
        build_arguments("Quartus", BuildSteps(cosim=True))
    assert [c["build_type"] for c in build_arguments("oneAPI", BuildSteps(csim=True, vsynth=True))] == [
        "report", "fpga_emu", "fpga"]  # fmt: skip


def test_build_without_the_vendor_tool_is_one_line(exported, monkeypatch):
    _, res, _ = exported
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(UserError, match="--build needs 'vitis-run' on PATH .* written and its C simulation checked"):
        build_project(res, BuildSteps(csim=True))


# --- one meaning of the final cost -----------------------------------------------------------------------------------


def test_cost_agreement_in_words_and_numbers():
    # the case of the issue: a lut budget of 130,154; the budget's pricing 115,387; exact weights 135,097
    a = cost_agreement("lut", "LUT", 130_154, 115_387, {"exact weights": 135_097, "da4ml": "error: x"})
    assert not a["agree"] and a["within_budget"]
    other = a["others"]["exact weights"]
    assert other["ratio"] == pytest.approx(135_097 / 115_387)  # = 1.1708...
    assert not other["within_budget"] and "da4ml" not in a["others"]  # a text is not a pricing
    assert a["note"] == ("lut: 115,387 LUT at the budget's pricing (the guarantee, <= the budget 130,154); priced "
                         "otherwise: exact weights: 135,097 LUT (1.171 x, over the budget)")  # fmt: skip
    same = cost_agreement("bops", "BOP", 1e6, 9.9e5, {"exact weights": 9.95e5})  # 0.5 % apart: they agree
    assert same["agree"] and same["note"] is None


def test_export_report_carries_the_agreement():
    summary = {"budget": {"cost": "lut", "unit": "LUT", "value": 130_154.0}, "final_cost": 115_387.0}
    costs = {"models": {"lut": 135_097.0}, "da4ml": {"total": 120_000.0, "complete": True}}
    a = cost_agreement_of(summary, costs)
    assert set(a["others"]) == {"exact weights", "da4ml adder graph"}
    assert a["others"]["da4ml adder graph"]["ratio"] == pytest.approx(120_000 / 115_387)  # 1.04: also disagrees
    assert cost_agreement_of(None, costs) is None
    costs["da4ml"]["complete"] = False  # a partial da4ml total is no pricing of the model
    assert set(cost_agreement_of(summary, costs)["others"]) == {"exact weights"}


def test_build_passes_the_steps_and_reads_the_report_back(exported, tmp_path, monkeypatch):
    """A stand-in vendor flow: ``build()`` records its arguments, the project holds the Vitis fixture report."""
    from pathlib import Path

    from hls.check import REPORT_NAME
    from hls.export import ExportResult

    _, res, _ = exported
    fixture = Path(__file__).parent / "fixtures" / "reports" / "vitis" / "csq_prj"
    project = tmp_path / "csq_prj"
    shutil.copytree(fixture, project)
    report = json.loads(json.dumps(res.report))
    report["options"]["project_name"] = "csq_prj"  # the fixture's project
    calls = []

    class FakeModel:
        def build(self, **kwargs):
            calls.append(kwargs)

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/opt/x/vitis-run" if name == "vitis-run"
                        else real(name, *a, **k))  # fmt: skip
    synth = build_project(ExportResult(project, report, FakeModel()), BuildSteps(csim=True, cosim=True))
    assert calls == [dict(csim=True, synth=True, cosim=True, export=False, vsynth=False)]
    on_disk = json.loads((project / REPORT_NAME).read_text())
    assert on_disk["build"] == {"csim": True, "cosim": True, "export_ip": False, "vsynth": False}
    assert on_disk["synthesis"]["found"] and on_disk["synthesis"] == synth
    assert {"lut", "ff", "dsp", "latency_max", "interval_max"} <= set(synth["totals"])
    rows = on_disk["estimate_vs_synthesis"]
    assert rows and {"resource", "estimate", "synthesis", "ratio"} <= set(rows[0])
    lut = next(r for r in rows if r["resource"] == "lut" and r["layer"] == "TOTAL" and r["model"] == "lut")
    assert lut["estimate"] == res.report["costs"]["models"]["lut"]  # csq-hw's estimate beside the tool's count
    assert lut["synthesis"] == synth["totals"]["lut"] and lut["ratio"] == pytest.approx(
        lut["estimate"] / lut["synthesis"]
    )
    assert (project / "estimate_vs_synthesis.csv").is_file() and (project / "estimate_vs_synthesis.png").is_file()


# --- the command line ------------------------------------------------------------------------------------------------


def test_cli_qonnx_format(tmp_path, capsys):
    pytest.importorskip("qonnx")
    from csq_hw.cli.main import main

    run = make_run(tmp_path / "run", "digits-mlp", seed=0, n_test=20)
    assert main(["export", str(run), "--format", "qonnx", "--out", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "0 mismatches" in out and (tmp_path / "m.onnx").is_file()
    assert (
        main(["export", str(run), "--format", "qonnx", "--out", str(tmp_path / "n.onnx"), "--backend", "vivado"]) == 2
    )
    assert "--backend: options of the hls4ml project; --format qonnx writes one .onnx file" in capsys.readouterr().err
    assert main(["export", str(run), "--format", "qonnx", "--out", str(tmp_path / "dir")]) == 2
    assert "give a path ending in .onnx" in capsys.readouterr().err


def test_cli_flow_flags_need_build(tmp_path, capsys):
    from csq_hw.cli.main import main

    run = make_run(tmp_path / "run", "digits-mlp", seed=0, n_test=5)
    assert main(["export", str(run), "--out", str(tmp_path / "prj"), "--cosim"]) == 2
    assert "--cosim are steps of the vendor flow; add --build" in capsys.readouterr().err
    layers = tmp_path / "layers.toml"
    layers.write_text('["0"]\nreuse = 2\n')
    assert main(["export", str(run), "--out", str(tmp_path / "prj"), "--layer-config", str(layers)]) == 2
    assert "unknown setting 'reuse'; did you mean 'reuse_factor'?" in capsys.readouterr().err
    assert not (tmp_path / "prj").exists()


def test_channels_last_internal_takes_channels_last_inputs(tmp_path):
    """``internal``: no input transpose in the firmware; the check and tb_data give it (N, H, W, C) inputs."""
    run = make_run(tmp_path / "run", "resnet20", seed=7, n_test=10, searched_act=True, n=1, width=4,
                   quantize_shortcuts=True, input_shape=(3, 8, 8))  # fmt: skip
    res = hls.export(run, tmp_path / "prj", channels_last="internal", tb_samples=4)
    assert res.passed, res.verdict
    assert not [t for t in res.report["types"].values() if t["class"] == "Transpose"]
    x, _ = load_run(run).test_set()
    got = read_vectors(res.out_dir / TB_DIR / TB_INPUTS)
    np.testing.assert_array_equal(got, np.moveaxis(x[:4], 1, -1).reshape(4, -1).astype(np.float32))
