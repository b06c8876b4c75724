"""The da4ml estimate in ``csq_report.json`` (``hls.costs``): per-layer adder-graph cost and latency, optional."""

from __future__ import annotations

import importlib.util

import pytest
from hls_fixtures import fill_exact_model, make_precisions

from hls.costs import cost_estimates, da4ml_estimate, final_bits
from hls.export import _geometry


def _digits_cnn():
    prec = make_precisions("digits-cnn", seed=3, searched_act=True)
    model = fill_exact_model(prec, seed=3).float()
    shape = tuple(prec["model"]["input_shape"])
    return prec, model, shape, _geometry(model, prec, shape)


@pytest.mark.da4ml
def test_da4ml_estimate_per_layer():
    pytest.importorskip("da4ml")
    from cost_models.calibration import da4ml_layer_cost

    prec, model, shape, geometry = _digits_cnn()
    bits = final_bits(prec, model)
    est = da4ml_estimate(geometry, bits)
    layers = est["layers"]
    assert list(layers) == ["0", "3", "7"] and est["complete"]
    # convs: one CMVM per output position (8x8, then 4x4); the Linear once
    assert [layers[n]["instances"] for n in layers] == [64, 16, 1]
    assert all(v["cost"] > 0 and v["latency"] > 0 for v in layers.values())
    assert est["total"] == sum(v["cost"] * v["instances"] for v in layers.values())
    # the same solve as the calibration corpus's da4ml_layer_cost
    b = bits["7"]
    assert layers["7"]["cost"] == da4ml_layer_cost(b.weight_values, int(b.act), b.act_signed)
    # bounded: a layer above the size limit is skipped with its reason, the rest still estimated
    small = da4ml_estimate(geometry, bits, max_weights=1000)
    assert "1152 weights > 1000" in small["layers"]["3"]["skipped"] and not small["complete"]
    assert small["total"] == est["total"] - layers["3"]["cost"] * 16
    # an exhausted time budget skips what is left
    assert all(
        "time budget" in v["skipped"] for v in da4ml_estimate(geometry, bits, time_budget_s=-1)["layers"].values()
    )
    rep = cost_estimates(geometry, prec, model, shape)
    assert rep["da4ml"]["total"] == est["total"]


def test_da4ml_absent_is_a_note(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "da4ml" else real(n, *a))
    prec, model, shape, geometry = _digits_cnn()
    assert cost_estimates(geometry, prec, model, shape)["da4ml"].startswith("not installed")
