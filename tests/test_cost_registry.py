"""Registry names, options, combined budgets and the one-line errors for unknown kinds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cost_models import CostError, available, get_cost_model, parse_budget, parse_budgets, trace_geometry, uniform_bits
from cost_models.combine import Normalized, WeightedSum

REQUIRED = ["size", "bops", "bops-uniq", "ebops", "latency:stripes", "latency:loom", "latency:bismo",
            "latency:bitfusion", "lut", "dsp", "ff", "bram", "energy"]  # fmt: skip


def _geometry():
    return trace_geometry(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)), (16,))


def test_required_names_registered():
    names = available()
    assert all(n in names for n in REQUIRED)
    assert "latency:table=" in names
    for n in REQUIRED:
        m = get_cost_model(n)
        assert m.name == n and m.unit


@pytest.mark.parametrize(
    "spec, match",
    [
        ("flops", r"unknown cost kind 'flops'; did you mean 'bops'\? choose one of: .*bops"),  # flops -> bops: 1 edit
        ("latency:eyeriss", r"unknown accelerator 'eyeriss'; choose one of: stripes, loom, bismo, bitfusion"),
        ("lut:turbo", r"unknown option 'turbo' for cost model 'lut:turbo'"),
        ("lut:resource,da", r"choose one strategy"),
        ("energy:flash", r"unknown energy memory 'flash'"),
        ("bops+x*lut", r"weight 'x' is not a number"),
        ("latency:bismo,b2.5", r"batch size must be an integer"),
    ],
)
def test_bad_kinds_are_one_line_errors(spec, match):
    with pytest.raises(CostError, match=match) as exc:
        get_cost_model(spec)
    assert "\n" not in str(exc.value)


def test_weighted_sum_and_normalized():
    g = _geometry()
    bits = uniform_bits(g, 4, 6)
    bops = float(get_cost_model("bops")(g, bits))  # (128 + 32) * 24 = 3,840
    size = float(get_cost_model("size")(g, bits))  # 160 * 4 = 640
    assert bops == 3840 and size == 640
    combo = get_cost_model("bops+0.5*size")
    assert isinstance(combo, WeightedSum) and combo.unit == "mixed"
    assert float(combo(g, bits)) == 3840 + 320
    per = combo.per_layer(g, bits)
    assert float(sum(per.values())) == 4160
    # normalised by uniform 8 bits: 3,840 / (160 * 64) = 0.375, unitless
    norm = get_cost_model("bops/u8")
    assert isinstance(norm, Normalized) and norm.unit == "1"
    assert float(norm(g, bits)) == 0.375
    same_unit = WeightedSum([(1.0, get_cost_model("bops")), (2.0, get_cost_model("ebops"))])
    assert same_unit.unit == "BOP"


def test_budgets_single_and_several():
    g = _geometry()
    b = parse_budget("bops=2e5", g)
    assert b.value == 2e5 and b.cost.name == "bops"
    # uN: the same model at uniform N bits: 160 MACs * 9 = 1,440 BOPs at u3
    assert parse_budget("bops=u3", g).value == 1440
    assert parse_budget("latency:bismo=4e4", g).cost.name == "latency:bismo"
    assert parse_budget("lut:resource,rf4=3000", g).cost.name == "lut:resource,rf4"
    several = parse_budgets(["bops=2e5", "lut=3000", "bops+0.5*lut=1e5"], g)
    assert [x.value for x in several] == [2e5, 3000, 1e5]


def test_table_path_budget(tmp_path):
    g = _geometry()
    rows = [f"{n},{w},{a},{w * a}" for n in ("0", "2") for w in range(1, 9) for a in range(1, 9)]
    (tmp_path / "t.csv").write_text("layer,w_bits,a_bits,value\n" + "\n".join(rows) + "\n")
    b = parse_budget(f"latency:table={tmp_path / 't.csv'}=u2", g)
    assert b.value == 8  # 2 layers * (2 * 2)
    with torch.no_grad():
        assert float(b.cost(g, uniform_bits(g, 3, 4))) == 24
