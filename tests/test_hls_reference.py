"""HLS backend pieces that need no compiler: types, the integer reference, grid and reuse-factor checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hls_fixtures import fill_exact_model, make_precisions, make_run, write_run
from torch import nn

from csq_hw.errors import UserError
from csq_hw.quant.exact import ExactQuantLayer, FixedPointQuant
from hls.check import check_inputs, compare
from hls.config import ExportOptions
from hls.planned_types import planned_types
from hls.precision import FixedType, bits_for_int_range
from hls.reference import Fixed, UnsupportedLayerError, quantize, reference_forward
from hls.reuse import check_reuse_factors, valid_reuse_factors
from hls.run_files import load_run

MODELS = [
    ("digits-mlp", {}),
    ("jet-mlp", {}),
    ("digits-cnn", {}),
    ("digits-cnn", {"batchnorm": True}),
    ("mnist1d-cnn", {}),
]


def test_fixed_type_spelling():
    assert FixedType(1, 2, 5).to_hls() == "ap_fixed<8,3,AP_RND,AP_SAT>"
    assert FixedType(0, 4, 4, "TRN", "WRAP").to_config() == "ufixed<8,4>"
    assert FixedType(0, 4, 4).int_range() == (0, 255)
    # codes in [-300, 200] at f = 4: signed, 2^9 = 512 > 300 -> W = 10, I = 6
    assert bits_for_int_range(-300, 200, 4).to_config() == "fixed<10,6>"
    assert bits_for_int_range(0, 256, 0).to_config() == "ufixed<9,9>"
    with pytest.raises(ValueError):
        FixedType(2, 1, 1)


def test_quantize_rounds_half_up_and_saturates():
    # k=1, i=1, f=1: grid 0.5 in [-2, 1.5]; 0.25 -> 0.5 (half up), -0.25 -> 0, 7 -> 1.5, -7 -> -2
    q = quantize(np.array([0.25, -0.25, 7.0, -7.0, 0.74]), 1, 1, 1)
    np.testing.assert_array_equal(q.to_float(), [0.5, 0.0, 1.5, -2.0, 0.5])
    # re-quantizing a finer fixed-point value: codes at f=3 -> f=1, same rule
    fine = Fixed(np.array([1, -1, 3, -3, 100]), 3)  # 0.125, -0.125, 0.375, -0.375, 12.5
    np.testing.assert_array_equal(quantize(fine, 0, 2, 1).to_float(), [0.0, 0.0, 0.5, 0.0, 3.5])


@pytest.mark.parametrize(("name", "kwargs"), MODELS)
def test_reference_equals_torch(name, kwargs):
    prec = make_precisions(name, kwargs=kwargs, seed=2, searched_act=True)
    model = fill_exact_model(prec, seed=2)
    shape = tuple(prec["model"]["input_shape"])
    x = np.concatenate(list(check_inputs(np.random.default_rng(0).normal(0, 1, (64, *shape)), 1, 2).values()))
    ref = reference_forward(model, prec, x)
    with torch.no_grad():
        y = model.double()(torch.from_numpy(x)).numpy()
    assert compare(ref, y)["mismatches"] == 0
    assert len(np.unique(ref.codes)) > 10  # not a degenerate all-saturated model


def test_reference_catches_a_wrong_quantizer():
    """The oracle is independent: a model whose quantizer disagrees with precisions.json is refused."""
    prec = make_precisions("digits-mlp", seed=1)
    model = fill_exact_model(prec, seed=1)
    model[2].quant.f += 1
    with pytest.raises(UserError, match="input quantizer differs"):
        reference_forward(model, prec, np.zeros((2, 64)))


def test_compare_counts_mismatches_in_lsb():
    ref = Fixed(np.array([[4, 8], [1, 2]]), 2)  # [[1, 2], [0.25, 0.5]]
    got = np.array([[1.0, 2.0], [0.25, 1.0]])
    res = compare(ref, got)
    assert (res["samples"], res["mismatches"], res["max_lsb_diff"]) == (2, 1, 2.0)


def test_resnet20_reference_has_residual_add():
    prec = make_precisions("resnet20", seed=0)
    model = fill_exact_model(prec, seed=0)
    x = np.random.default_rng(0).normal(0, 1, (2, 3, 32, 32))
    with torch.no_grad():
        y = model.double()(torch.from_numpy(x)).numpy()
    assert compare(reference_forward(model, prec, x), y)["mismatches"] == 0


def test_quantize_shortcuts_kwarg_makes_resnet20_exportable():
    from csq_hw.zoo.models import build_model, full_precision_for

    assert full_precision_for("resnet20", {}) == ("shortcut",)
    assert full_precision_for("resnet20", {"quantize_shortcuts": True}) == ()
    assert full_precision_for("digits-mlp", None) == ()
    small = build_model("resnet20", n=1, width=4, quantize_shortcuts=True)
    assert sum(isinstance(m, nn.Conv2d) for m in small.modules()) == 1 + 3 * 2 + 2  # stem, 3 blocks, 2 shortcuts
    assert small(torch.zeros(2, 3, 8, 8)).shape == (2, 10)
    prec = make_precisions("resnet20", kwargs={"n": 1, "width": 4, "quantize_shortcuts": True}, input_shape=(3, 8, 8))
    assert [e["name"] for e in prec["layers"] if "shortcut" in e["name"]] == [
        "layer2.0.shortcut.0",
        "layer3.0.shortcut.0",
    ]
    model = fill_exact_model(prec, seed=1).double()
    x = np.random.default_rng(0).normal(0, 1, (16, 3, 8, 8))
    ref = reference_forward(model, prec, x)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    assert np.array_equal(ref.to_float(), got)


def test_unsupported_layer_is_named():
    prec = make_precisions("digits-mlp", seed=0)
    model = fill_exact_model(prec, seed=0)
    model[1] = nn.GELU()
    with pytest.raises(UnsupportedLayerError, match=r"module '1' \(GELU\).*supported: Linear"):
        reference_forward(model, prec, np.zeros((1, 64)))


def test_off_grid_weight_is_an_error(tmp_path):
    prec = make_precisions("digits-mlp", seed=0)
    model = fill_exact_model(prec, seed=0)
    with torch.no_grad():
        model[0].layer.weight[0, 0] += 2.0 ** (prec["layers"][0]["weight"]["step_exponent"] - 1)
    write_run(tmp_path, prec, model)
    with pytest.raises(UserError, match="not a multiple of 2"):
        load_run(tmp_path)


def test_out_of_range_weight_is_an_error(tmp_path):
    prec = make_precisions("digits-mlp", seed=0)
    model = fill_exact_model(prec, seed=0)
    e = prec["layers"][1]["weight"]
    with torch.no_grad():
        model[2].layer.weight[0, 0] = 2.0 ** (e["step_exponent"] + e["positions"][-1] + 1)
    write_run(tmp_path, prec, model)
    with pytest.raises(UserError, match="outside the declared"):
        load_run(tmp_path)


def test_run_contract_errors(tmp_path):
    run = make_run(tmp_path / "a", "digits-mlp")
    prec = json.loads((run / "precisions.json").read_text())
    prec["full_precision"] = ["layer1.0.shortcut.0"]
    (run / "precisions.json").write_text(json.dumps(prec))
    with pytest.raises(UserError, match="quantize_shortcuts = true"):
        load_run(run)
    prec["full_precision"], prec["version"] = [], 2
    (run / "precisions.json").write_text(json.dumps(prec))
    with pytest.raises(UserError, match="version"):
        load_run(run)
    with pytest.raises(UserError, match="does not exist"):
        load_run(tmp_path / "missing")


def test_reuse_factors_come_from_hls4ml(monkeypatch):
    hls4ml = pytest.importorskip("hls4ml")
    # hls4ml 1.3's rule for n_in=9, n_out=8 (product 72): rf | 72, and rf < 9 needs ceil(72 / rf) % 8 == 0
    # (rf = 1: 72, rf = 3: 24 pass; 2: 36, 4: 18, 6: 12, 8: 9 fail), rf >= 9 needs 9 | rf: 9, 18, 36, 72
    assert valid_reuse_factors(9, 8, "Vitis") == (1, 3, 9, 18, 36, 72)
    for backend in ("Vivado", "Quartus", "Catapult", "oneAPI"):
        assert valid_reuse_factors(16, 64, backend) == tuple(
            hls4ml.backends.get_backend(backend).get_valid_reuse_factors(16, 64)
        )
    # the check asks hls4ml, so a changed rule in hls4ml changes what is accepted
    backend = hls4ml.backends.get_backend("Vivado")
    monkeypatch.setattr(type(backend), "get_valid_reuse_factors", lambda self, n_in, n_out: [1, 5])
    valid_reuse_factors.cache_clear()
    try:
        assert valid_reuse_factors(9, 8, "Vivado") == (1, 5)
    finally:
        monkeypatch.undo()
        valid_reuse_factors.cache_clear()


def test_invalid_reuse_factor_is_an_error():
    from hls.export import _geometry

    prec = make_precisions("digits-cnn", seed=0)
    model = fill_exact_model(prec, seed=0)
    geometry = _geometry(model, prec, (1, 8, 8))
    check_reuse_factors(geometry, {g.name: 1 for g in geometry}, "Vitis")
    with pytest.raises(
        UserError, match=r"reuse factor 5 is invalid for layer '0' \(n_in=9, n_out=8; valid: 1,3,9,18,36,72\)"
    ):
        check_reuse_factors(geometry, {g.name: 5 for g in geometry}, "Vitis")
    check_reuse_factors(geometry, {"0": 3}, "Vitis")  # per layer: only the named layer is checked


def test_export_options_validate():
    assert ExportOptions(backend="vivado", io_type="IO_STREAM", strategy="resource").backend == "Vivado"
    for bad in ({"backend": "Libero"}, {"io_type": "io_serial"}, {"reuse_factor": 0}, {"clock_ns": -1.0}):
        with pytest.raises(UserError):
            ExportOptions(**bad)


def test_planned_accumulator_holds_the_worst_case():
    prec = make_precisions("digits-mlp", seed=0)
    from hls.export import _geometry

    model = fill_exact_model(prec, seed=0)
    geometry = _geometry(model, prec, (64,))
    planned = planned_types(prec, geometry)
    # layer 0: input fixed(k=1, i=2, f) x 4-bit weights over fan-in 64, + 8-bit bias
    e = prec["layers"][0]
    x_codes = 2 ** (e["input"]["bits"] - 1)
    w_codes = 2 ** e["weight"]["bits"] - 1
    f = e["input"]["f"] + e["weight"]["f"]
    bound = 64 * x_codes * w_codes * 2 ** max(0, 6 - f) + 128 * 2 ** max(0, f - 6)
    assert planned["0"]["accum"] == bits_for_int_range(-bound, bound, max(f, 6)).to_hls()


def test_quant_layer_structure_is_what_reference_reads():
    prec = make_precisions("jet-mlp", seed=0)
    model = fill_exact_model(prec, seed=0)
    assert isinstance(model[0], ExactQuantLayer) and isinstance(model[0].quant, FixedPointQuant)
