"""QONNX export (hls/qonnx_export.py): bit-exact under qonnx's own executor, the precisions' widths in the file, and a
check that fails on a wrong file.

Every export is checked on the test set, x2, x4 and 256 random out-of-range inputs on a 2^-12 grid (saturation and
rounding ties), 556 samples; qonnx executes node by node, 0.1-0.7 s per model here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hls_fixtures import fill_exact_model, make_precisions, make_run
from torch import nn

from csq_hw.errors import UserError
from hls.check import check_inputs
from hls.run_files import load_run

qonnx = pytest.importorskip("qonnx")
onnx = pytest.importorskip("onnx")

from onnx import numpy_helper  # noqa: E402  (after the skip: onnx present)

import hls.qonnx_export as qe  # noqa: E402
from hls.qonnx_export import check_qonnx, export_qonnx  # noqa: E402
from hls.reference import UnsupportedLayerError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path: Path, name: str, **kwargs):
    run = load_run(make_run(tmp_path / "run", name, seed=7, n_test=100, searched_act=True, **kwargs))
    first = run.precisions["layers"][0]["input"]
    return run, check_inputs(run.test_inputs(), first["k"], first["i"])


def _parts(path: Path):
    m = onnx.load(str(path))
    return m, {n.name: n for n in m.graph.node}, {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def _attr(node, key):
    return onnx.helper.get_attribute_value(next(a for a in node.attribute if a.name == key))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("digits-mlp", {}),
        ("digits-cnn", {"batchnorm": True}),
        ("mnist1d-cnn", {}),
        ("resnet20", {"n": 1, "width": 4, "quantize_shortcuts": True, "input_shape": (3, 8, 8)}),  # residual, avgpool
    ],
)
def test_bit_exact_under_qonnx_executor(tmp_path, name, kwargs):
    run, sets = _run(tmp_path, name, **kwargs)
    out = tmp_path / "model.onnx"
    res = export_qonnx(run.model, run.precisions, out, sets)
    assert res.samples == 3 * 100 + 256 and res.sets["random_out_of_range"]["samples"] == 256
    assert res.mismatches == 0 and res.max_lsb_diff == 0.0, res.sets
    assert res.passed and res.verdict.startswith("bit-exact: 0 mismatches / 556 samples")
    assert res.path == out and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "run"]  # no staging left
    if name == "digits-mlp":  # accumulators bounded below 2^24 for every input, not only the checked ones
        assert res.float32_exact and "float32-exact for every input" in res.verdict
    onnx.checker.check_model(onnx.load(str(out)))


def test_quant_nodes_carry_the_precisions(tmp_path):
    run, sets = _run(tmp_path, "digits-mlp")
    res = export_qonnx(run.model, run.precisions, tmp_path / "m.onnx", sets)
    model, nodes, inits = _parts(res.path)
    assert {o.domain: o.version for o in model.opset_import} == {"": 13, "qonnx.custom_op.general": 1}
    assert model.ir_version == 8 and nodes["0.input_quant"].domain == "qonnx.custom_op.general"

    # by hand, layer "0" of this fixture (seed 7): input (k, i, f) = (1, 2, 5) -> bitwidth 1 + 2 + 5 = 8, scale 2^-5,
    # codes [-128, 127] = [-4, 3.96875]; its pre-rounding Quant: 9 bits at 2^-6, then + 2^-6 (half an LSB).
    # Weights: positions 2..5, step 2^-7 -> i = -7 + 5 + 1 = -1, f = -(-7 + 2) = 5 -> bitwidth 1 - 1 + 5 = 5,
    # scale 2^-5, narrow: integers in [-15, 15] (= +-60 * 2^-7). Bias: 8 bits at 2^-6.
    layer0 = run.precisions["layers"][0]
    assert (layer0["input"]["k"], layer0["input"]["i"], layer0["input"]["f"]) == (1, 2, 5)
    assert (layer0["weight"]["positions"], layer0["weight"]["step_exponent"]) == ([2, 3, 4, 5], -7)
    assert inits["0.input_quant.bitwidth"] == 8 and inits["0.input_quant.scale"] == 0.03125
    assert inits["0.input_quant.pre_round.bitwidth"] == 9 and inits["0.input_quant.pre_round.scale"] == 2.0**-6
    assert inits["0.input_quant.half_lsb"] == 2.0**-6
    assert inits["0.weight_quant.bitwidth"] == 5 and inits["0.weight_quant.scale"] == 0.03125
    assert np.abs(inits["0.weight"] / 0.03125).max() <= 15
    assert inits["0.bias_quant.bitwidth"] == 8 and inits["0.bias_quant.scale"] == 2.0**-6

    for la in run.precisions["layers"]:  # every layer, from precisions.json
        name, q, w = la["name"], la["input"], la["weight"]
        node = nodes[f"{name}.input_quant"]
        assert inits[f"{name}.input_quant.bitwidth"] == q["k"] + q["i"] + q["f"] == q["bits"]
        assert inits[f"{name}.input_quant.scale"] == 2.0 ** q["step_exponent"]
        assert inits[f"{name}.input_quant.zeropt"] == 0.0
        assert (_attr(node, "signed"), _attr(node, "narrow"), _attr(node, "rounding_mode")) == (q["k"], 0, b"FLOOR")
        assert inits[f"{name}.weight_quant.bitwidth"] == w["k"] + w["i"] + w["f"]
        assert inits[f"{name}.weight_quant.scale"] == 2.0 ** -w["f"]
        wq = nodes[f"{name}.weight_quant"]
        assert (_attr(wq, "signed"), _attr(wq, "narrow"), _attr(wq, "rounding_mode")) == (1, 1, b"ROUND")
        assert inits[f"{name}.bias_quant.bitwidth"] == la["bias"]["bits"]
        assert inits[f"{name}.bias_quant.scale"] == 2.0 ** la["bias"]["step_exponent"]
    assert [n.op_type for n in model.graph.node].count("Quant") == 3 * (2 + 1 + 1)  # per layer: input (2), weight, bias


def test_a_tampered_weight_fails_the_check(tmp_path):
    run, sets = _run(tmp_path, "digits-mlp")
    res = export_qonnx(run.model, run.precisions, tmp_path / "m.onnx", sets)
    model, _, inits = _parts(res.path)
    last = run.precisions["layers"][-1]
    step = 2.0 ** last["bias"]["step_exponent"]
    bias = inits[f"{last['name']}.bias"].copy()
    bias[0] += step if bias[0] < 0 else -step  # one bias step, inside the 8-bit range: class 0 moves on every sample
    init = next(t for t in model.graph.initializer if t.name == f"{last['name']}.bias")
    init.CopyFrom(numpy_helper.from_array(bias, init.name))
    onnx.save(model, str(tmp_path / "tampered.onnx"))
    bad = check_qonnx(tmp_path / "tampered.onnx", run.model, run.precisions, sets)
    assert bad.mismatches == bad.samples == 556 and not bad.passed
    assert bad.max_lsb_diff == step / res.output_lsb and bad.verdict.startswith("NOT bit-exact: 556 mismatches")


def _below_ties(shape: tuple[int, ...], f: int) -> np.ndarray:
    """Inputs one float32 ulp below the first tie, 2^-(f+1): ``x + 2^-(f+1)`` rounds up to 2^-f in float32."""
    return np.full((4, *shape), np.nextafter(np.float32(2.0 ** -(f + 1)), np.float32(0)), dtype=np.float32)


@pytest.mark.parametrize("variant", ["HALF_UP", "ROUND", "add_then_floor"])
def test_simpler_quantizers_are_not_exact(tmp_path, variant):
    """The three-node quantizer is needed: QONNX's HALF_UP (half away from zero) and ROUND (half to even) differ from
    the exact model's half up on ties, and a two-node ``Add(x, 2^-(f+1))`` + FLOOR rounds up just below a tie."""
    run, sets = _run(tmp_path, "digits-mlp")
    f0 = run.precisions["layers"][0]["input"]["f"]
    sets["below_ties"] = _below_ties((64,), f0)
    res = export_qonnx(run.model, run.precisions, tmp_path / "m.onnx", sets)
    assert res.passed, res.sets  # the export's own quantizers are exact on all of these
    model, nodes, _ = _parts(res.path)
    q = nodes["0.input_quant"]
    if variant == "add_then_floor":  # x -> Add(half) -> FLOOR: drop the pre-rounding Quant
        nodes["0.input_quant.plus_half"].input[0] = "input"
        model.graph.node.remove(nodes["0.input_quant.pre_round"])
    else:  # x -> Quant(variant) directly
        q.input[0] = "input"
        next(a for a in q.attribute if a.name == "rounding_mode").s = variant.encode()
        model.graph.node.remove(nodes["0.input_quant.pre_round"])
        model.graph.node.remove(nodes["0.input_quant.plus_half"])
    onnx.save(model, str(tmp_path / "variant.onnx"))
    bad = check_qonnx(tmp_path / "variant.onnx", run.model, run.precisions, sets)
    tied = "below_ties" if variant == "add_then_floor" else "random_out_of_range"  # ties: random values on 2^-12
    assert bad.sets[tied]["mismatches"] > 0 and not bad.passed, bad.sets


def test_a_failed_check_leaves_out_path_as_it_was(tmp_path, monkeypatch):
    run, sets = _run(tmp_path, "digits-mlp")
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous")
    build = qe.build_qonnx_graph

    def wrong(model, precisions):  # a builder bug: the last layer's bias is dropped from the graph
        g = build(model, precisions)
        add = next(n for n in g.proto.graph.node if n.name == f"{run.precisions['layers'][-1]['name']}.out")
        add.input[1] = add.input[1].replace("bias_quant", "bias_quant.zeropt")
        return g

    monkeypatch.setattr(qe, "build_qonnx_graph", wrong)
    res = export_qonnx(run.model, run.precisions, out, sets)
    assert not res.passed and res.mismatches > 0
    assert out.read_bytes() == b"previous" and res.path == tmp_path / "m.failed.onnx" and res.path.is_file()
    assert not list(tmp_path.glob(".*checking*"))


def test_unsupported_layers_are_one_line_errors(tmp_path):
    prec = make_precisions("digits-mlp", seed=1)
    model = fill_exact_model(prec, seed=1)
    model[1] = nn.Sigmoid()
    with pytest.raises(UnsupportedLayerError, match=r"module '1' \(Sigmoid\) has no QONNX export; supported: ") as e:
        export_qonnx(model, prec, tmp_path / "m.onnx", np.zeros((2, 64)))
    assert "\n" not in str(e.value) and not (tmp_path / "m.onnx").exists()

    prec = make_precisions("digits-cnn", seed=1)
    model = fill_exact_model(prec, seed=1)
    model[2] = nn.MaxPool2d(3, stride=2, padding=1)  # as the ImageNet ResNets' stem
    with pytest.raises(UnsupportedLayerError, match=r"^2 \(MaxPool2d.*padding=0, dilation=1, ceil_mode=False"):
        export_qonnx(model, prec, tmp_path / "m.onnx", np.zeros((2, 1, 8, 8)))

    prec["full_precision"] = ["1"]
    with pytest.raises(UserError, match="kept in full precision .* quantize_shortcuts"):
        export_qonnx(fill_exact_model(make_precisions("digits-cnn", seed=1)), prec, tmp_path / "m.onnx", np.zeros(1))


def test_missing_qonnx_is_a_user_error(tmp_path, monkeypatch):
    run, sets = _run(tmp_path, "digits-mlp")
    monkeypatch.setitem(sys.modules, "qonnx", None)  # import qonnx -> ImportError
    with pytest.raises(UserError, match=r"needs qonnx; pip install 'csq-hw\[qonnx\]'"):
        export_qonnx(run.model, run.precisions, tmp_path / "m.onnx", sets)
    assert not (tmp_path / "m.onnx").exists()


def test_import_loads_neither_onnx_nor_qonnx():
    code = "import sys, csq_hw, hls; print(sorted(m for m in ('onnx', 'qonnx', 'onnxruntime') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_a_module_called_twice_gets_unique_names(tmp_path):
    run, sets = _run(tmp_path, "digits-mlp")
    run.model[3] = run.model[1]  # one ReLU object at two places: torch.fx calls module "1" twice
    res = export_qonnx(run.model, run.precisions, tmp_path / "m.onnx", sets)
    assert res.passed, res.sets
    names = [n.name for n in onnx.load(str(res.path)).graph.node]
    assert len(set(names)) == len(names) and {"1.out", "1.out_1"} <= set(names)
