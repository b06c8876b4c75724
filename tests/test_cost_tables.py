"""Latency lookup tables: interpolation exact at grid points, file formats, and every bad-table error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from cost_models import CostError, LayerBits, get_cost_model, trace_geometry, uniform_bits
from cost_models.interp import grid_interp1, table_interp2
from cost_models.table_io import load_table, save_csv, save_npy


def _geometry():
    return trace_geometry(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), (4,))


def _write_csv(path, rows, header="layer,w_bits,a_bits,value"):
    path.write_text(header + "\n" + "\n".join(",".join(str(x) for x in r) for r in rows) + "\n")
    return path


def _full_rows(layers=("0", "2"), w=(1, 2, 3), a=(2, 4)):
    # value = 100 * layer_index + 10 * w + a: distinct, monotone, easy to check by eye
    return [
        (n, wi, ai, 100 * k + 10 * wi + ai) for k, n in enumerate(layers) for wi in w for ai in range(a[0], a[1] + 1)
    ]


def test_table_interp_exact_at_grid_points_and_bilinear_between():
    table = torch.tensor([[1.0, 2.0, 4.0], [3.0, 7.0, 8.0]], dtype=torch.float64)  # w in 1..2, a in 5..7
    for i in range(2):
        for j in range(3):
            got = table_interp2(table, torch.tensor(1.0 + i), torch.tensor(5.0 + j), 1, 5)
            assert float(got) == float(table[i, j])
    # centre of the first cell: mean of 1, 2, 3, 7 = 3.25; upper edges are exact too
    assert float(table_interp2(table, torch.tensor(1.5), torch.tensor(5.5), 1, 5)) == 3.25
    assert float(table_interp2(table, torch.tensor(2.0), torch.tensor(7.0), 1, 5)) == 8.0
    assert float(grid_interp1(lambda x: x * x, torch.tensor(2.25))) == 4 + 0.25 * 5  # 4 + t * (9 - 4)


def test_csv_table_lookup_and_gradient(tmp_path):
    path = _write_csv(tmp_path / "lat.csv", _full_rows())
    model = get_cost_model(f"latency:table={path}")
    g = _geometry()
    # w=2, a=3: 20 + 3 = 23 for layer "0", 100 + 23 = 123 for layer "2"
    assert float(model(g, uniform_bits(g, 2, 3))) == 23 + 123
    w = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    a = torch.tensor(3.0, dtype=torch.float64)
    bits = {x.name: LayerBits(w, a) for x in g}
    out = model(g, bits)
    out.backward()
    assert float(out.detach()) == 28 + 128  # halfway between w=2 and w=3 (10 per w bit): 25 + 3, 125 + 3
    assert float(w.grad) == 20.0  # 10 per bit per layer, two layers
    assert model.unit == "cycle"


def test_npy_table_round_trip(tmp_path):
    table = load_table(_write_csv(tmp_path / "lat.csv", _full_rows()))
    save_npy(table, tmp_path / "lat.npy")
    save_csv(table, tmp_path / "again.csv")
    g = _geometry()
    bits = uniform_bits(g, 3, 4)
    # the .npy keeps w_min/a_min in the sidecar, so all three agree: 34 + 134
    for p in ("lat.csv", "lat.npy", "again.csv"):
        assert float(get_cost_model(f"latency:table={tmp_path / p}")(g, bits)) == 34 + 134


def test_npy_haq_layout_defaults(tmp_path):
    # HAQ layout [L, Bw, Ba], entry [l, w-1, a-1]; sidecar as a plain list of names
    arr = np.arange(2 * 4 * 4, dtype=float).reshape(2, 4, 4)
    np.save(tmp_path / "haq.npy", arr)
    (tmp_path / "haq.npy.layers.json").write_text(json.dumps(["0", "2"]))
    g = _geometry()
    got = get_cost_model(f"latency:table={tmp_path / 'haq.npy'}")(g, uniform_bits(g, 2, 3))
    assert float(got) == arr[0, 1, 2] + arr[1, 1, 2]


@pytest.mark.parametrize(
    "rows, header, match",
    [
        (_full_rows(layers=("0",)), None, r"no rows for layer '2'.*add rows layer=2"),
        ([r for r in _full_rows() if r[1:3] != (2, 3)], None, r"layer '0' has no row for w_bits=2, a_bits=3"),
        ([(*r[:3], -1 if r[1:3] == (1, 2) else r[3]) for r in _full_rows()], None, r"row 2: value -1.0 is negative"),
        ([(*r[:3], "nan" if r[1:3] == (3, 4) else r[3]) for r in _full_rows()], None, r"row \d+: value is nan"),
        ([("0", 1.5, 2, 3)], None, r"row 2: w_bits='1.5'.*not integers"),
        ([("0", 1, 2)], "layer,w_bits,a_bits", r"header .* lacks \['value'\]"),
        ([*_full_rows(), ("0", 1, 2, 5)], None, r"duplicate entry for layer '0' at w_bits=1, a_bits=2"),
    ],
    ids=["missing-layer", "missing-cell", "negative", "nan", "non-integer-bits", "bad-header", "duplicate"],
)
def test_bad_csv_tables(tmp_path, rows, header, match):
    path = _write_csv(tmp_path / "bad.csv", rows, header or "layer,w_bits,a_bits,value")
    g = _geometry()
    with pytest.raises(CostError, match=match) as exc:
        get_cost_model(f"latency:table={path}")(g, uniform_bits(g, 2, 3))
    msg = str(exc.value)
    assert str(path) in msg and "\n" not in msg  # one line naming the table


def test_bits_outside_table_range(tmp_path):
    path = _write_csv(tmp_path / "lat.csv", _full_rows())
    g = _geometry()
    with pytest.raises(
        CostError, match=r"lat.csv: layer '0' queried at w_bits=5, a_bits=3, outside its range w_bits 1..3"
    ):
        get_cost_model(f"latency:table={path}")(g, uniform_bits(g, 5, 3))


@pytest.mark.parametrize(
    "arr, names, match",
    [
        (np.ones((2, 3)), ["0", "2"], r"shape \(2, 3\) is not \[layers, w_bits, a_bits\]"),
        (np.ones((3, 4, 4)), ["0", "2"], r"3 rows but 2 layer names"),
        (
            np.where(np.arange(32).reshape(2, 4, 4) == 21, -2.0, 1.0),
            ["0", "2"],
            r"row 1 \(layer '2'\) at w_bits=2, a_bits=2 is -2.0",
        ),
        (
            np.where(np.arange(32).reshape(2, 4, 4) == 3, np.nan, 1.0),
            ["0", "2"],
            r"row 0 \(layer '0'\) at w_bits=1, a_bits=4 is nan",
        ),
        (np.ones((2, 4, 4)), ["0", "9"], r"no rows for layer '2'"),
    ],
    ids=["wrong-rank", "wrong-length", "negative", "nan", "missing-layer"],
)
def test_bad_npy_tables(tmp_path, arr, names, match):
    np.save(tmp_path / "t.npy", arr)
    (tmp_path / "t.npy.layers.json").write_text(json.dumps(names))
    g = _geometry()
    with pytest.raises(CostError, match=match) as exc:
        get_cost_model(f"latency:table={tmp_path / 't.npy'}")(g, uniform_bits(g, 2, 2))
    assert "t.npy" in str(exc.value)


def test_missing_files(tmp_path):
    with pytest.raises(CostError, match=r"file not found"):
        get_cost_model(f"latency:table={tmp_path / 'none.csv'}")
    np.save(tmp_path / "t.npy", np.ones((1, 2, 2)))
    with pytest.raises(CostError, match=r"missing sidecar t.npy.layers.json"):
        get_cost_model(f"latency:table={tmp_path / 't.npy'}")
