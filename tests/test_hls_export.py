"""Bit-exact hls4ml export, compiled with g++ (marker ``hls``; each compile takes 3-12 s on 2 cores).

Every model is checked on its test set, the test set x2 and x4 and random out-of-range inputs; the C simulation
must equal the independent integer reference exactly (zero mismatches). The matrix covers every model in both io
types and on two backends (Vitis and Quartus; Vivado for BatchNorm in io_stream), each pair once, to keep the
suite's compile time down.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from hls_fixtures import make_run

from csq_hw.cli.main import main as cli_main
from csq_hw.errors import UserError

hls4ml = pytest.importorskip("hls4ml")
pytestmark = [
    pytest.mark.hls,
    pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ for the C simulation"),
]

import hls  # noqa: E402  (after the skip: hls4ml present)

CASES = [
    ("digits-mlp", {}, "Vitis", "io_parallel"),
    ("jet-mlp", {}, "Quartus", "io_stream"),
    ("digits-cnn", {}, "Vitis", "io_stream"),
    ("digits-cnn", {}, "Quartus", "io_parallel"),
    ("mnist1d-cnn", {}, "Vitis", "io_parallel"),
    ("mnist1d-cnn", {}, "Quartus", "io_stream"),
    ("digits-cnn", {"batchnorm": True}, "Vitis", "io_parallel"),
    ("digits-cnn", {"batchnorm": True}, "Vivado", "io_stream"),
]


@pytest.mark.parametrize(("name", "kwargs", "backend", "io_type"), CASES)
def test_bit_exact(tmp_path, name, kwargs, backend, io_type):
    run = make_run(tmp_path / "run", name, seed=7, n_test=100, searched_act=True, **kwargs)
    res = hls.export(run, tmp_path / "prj", backend=backend, io_type=io_type)
    rep = json.loads((tmp_path / "prj" / "csq_report.json").read_text())
    assert rep["samples"] == 3 * 100 + 256
    assert rep["mismatches"] == 0, rep["csim"]
    assert rep["max_lsb_diff"] == 0.0
    assert rep["torch"]["mismatches"] == 0
    assert res.passed and "bit-exact: 0 mismatches" in res.verdict
    # the saturating inputs really saturate: x4 and the random set reach the first quantizer's limits
    assert rep["csim"]["sets"]["random_out_of_range"]["samples"] == 256
    assert set(rep["types"]) >= set(rep["hls_layer_names"].values())
    assert rep["seconds"]["write_compile"] > 0  # recorded; the speed goal is measured in docs/hls.md, not asserted


def test_searched_activation_bits_reach_the_firmware(tmp_path):
    """Per-layer searched input quantizers become the firmware's activation types (RND, SAT)."""
    run = make_run(tmp_path / "run", "digits-mlp", seed=11, n_test=50, searched_act=True)
    prec = json.loads((run / "precisions.json").read_text())
    widths = [(e["input"]["k"], e["input"]["i"], e["input"]["f"]) for e in prec["layers"]]
    assert len(set(widths)) > 1, "fixture should give different bits per layer"
    res = hls.export(run, tmp_path / "prj", backend="Vivado", strategy="Resource", reuse_factor=2)
    assert res.report["mismatches"] == 0
    types = res.report["types"]
    # the quantizer before layer j (j > 0) sits on the ReLU before it: ap_ufixed<W, i, AP_RND, AP_SAT>
    for (k, i, f), relu in zip(widths[1:], ["_1", "_3"], strict=True):
        assert types[relu]["types"]["result"].startswith(f"ap_ufixed<{k + i + f},{i},AP_RND,AP_SAT")
    k, i, f = widths[0]
    assert types["input_1"]["types"]["result"].startswith(f"ap_fixed<{k + i + f},{k + i},AP_RND,AP_SAT")
    assert set(res.report["reuse_factors"].values()) == {2}


def test_cli_build_without_vendor_tools(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # g++ stays reachable; no vendor tool lives there
    if shutil.which("vitis-run"):
        pytest.skip("Vitis is installed here")
    run = make_run(tmp_path / "run", "jet-mlp", seed=3, n_test=40)
    rc = cli_main(["export", str(run), "--out", str(tmp_path / "prj"), "--build"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "bit-exact: 0 mismatches" in out  # the C-sim check ran before the build was refused
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("export [")]  # export's progress lines
    assert "--build needs 'vitis-run' on PATH" in lines[-1] and len(lines) == 1
    assert (tmp_path / "prj" / "csq_report.json").is_file()


def test_invalid_reuse_factor_refused_before_writing(tmp_path):
    run = make_run(tmp_path / "run", "digits-mlp", seed=0, n_test=10)
    with pytest.raises(UserError, match="reuse factor 3 is invalid"):
        hls.export(run, tmp_path / "prj", reuse_factor=3)
    assert not (tmp_path / "prj").exists()


def test_quartus_stream_conv2d_refused(tmp_path):
    run = make_run(tmp_path / "run", "digits-cnn", seed=0, n_test=10)
    with pytest.raises(UserError, match="Quartus backend does not compile Conv2d models in io_stream"):
        hls.export(run, tmp_path / "prj", backend="Quartus", io_type="io_stream")


def test_resnet_residual_add_bit_exact(tmp_path):
    """A small ResNet (the resnet20 builder with n=1, width=4, 3x8x8 inputs; shortcuts quantized): identity and
    downsampling 1x1-conv + BN shortcuts, the residual adds and the global average pool (2x2 window) are exact."""
    run = make_run(
        tmp_path / "run",
        "resnet20",
        seed=7,
        n_test=50,
        searched_act=True,
        n=1,
        width=4,
        quantize_shortcuts=True,
        input_shape=(3, 8, 8),
    )
    res = hls.export(run, tmp_path / "prj", backend="Vitis", io_type="io_parallel")
    rep = res.report
    assert rep["samples"] == 3 * 50 + 256
    assert rep["mismatches"] == 0, rep["csim"]
    assert rep["torch"]["mismatches"] == 0
    assert res.passed
    classes = [t["class"] for t in rep["types"].values()]
    assert classes.count("Merge") == 3  # one residual add per block
    assert "layer2.0.shortcut.0" in rep["hls_layer_names"] and "layer3.0.shortcut.0" in rep["hls_layer_names"]
    assert rep["reuse_factors"][rep["hls_layer_names"]["layer2.0.shortcut.0"]] == 1
    if importlib.util.find_spec("da4ml") is not None:  # the da4ml estimate covers the shortcut convs too
        assert rep["costs"]["da4ml"]["layers"]["layer2.0.shortcut.0"]["instances"] == 16


@pytest.mark.parametrize("method", ["csq", "qat"])
def test_finetuned_and_qat_runs_are_bit_exact(tmp_path, method):
    """A run trained by the straight-through fine-tune (shadow weights projected onto signed-digit values, mse step)
    and a plain QAT baseline run export through the same path with 0 mismatches."""
    from csq_hw import TrainConfig, train_run

    extra = {"qat": True, "max_bits": 3} if method == "qat" else {"ticket_epoch": 1}
    cfg = TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u3", epochs=3, seed=5, **extra)
    summary = train_run(cfg, tmp_path / "run", progress=False)
    assert summary["method"] == method
    res = hls.export(tmp_path / "run", tmp_path / "prj", backend="Vitis", io_type="io_parallel")
    assert res.passed and res.report["mismatches"] == 0 and res.report["torch"]["mismatches"] == 0
