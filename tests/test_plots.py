"""csq_hw.plots and cost_models.fpga_parts: Figures in, Figures out, files only on request, and what each plot shows.

A tiny digits-MLP run (2 epochs, seconds) gives real precisions and costs; hand-made precisions and cost tables give
the values the bit map and the device shares must show exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cost_models import CostError, cost_table, trace_geometry, uniform_bits
from cost_models.fpga_parts import fpga_part, fpga_parts
from csq_hw import TrainConfig, train_run
from csq_hw.handoff.precision_types import InputQuantizer, LayerPrecision, ModelSpec, Precisions, WeightPrecision
from csq_hw.plots import (
    bit_map,
    layer_labels,
    plot_bit_map,
    plot_cost_curves,
    plot_device_share,
    plot_fronts,
    plot_layer_bits,
    plot_layer_resources,
    run_layer_costs,
    save_figure,
)
from csq_hw.plots.bit_map import EMPTY, SELECTED, SIGN, SPAN

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("plots") / "run"
    cfg = TrainConfig.from_flat(model="digits-mlp", dataset="digits", budget="size=u3", epochs=2, seed=0)
    train_run(cfg, out, progress=False)
    return out


def _layer(name: str, positions: tuple[int, ...], step_exponent: int, k: int, act_bits: int) -> LayerPrecision:
    span = max(positions) - min(positions) + 1
    weight = WeightPrecision(len(positions), positions, span, step_exponent, 2.0**step_exponent, k, 0, 0, -7, 7)
    return LayerPrecision(name, "linear", (3, 4), weight, None, InputQuantizer(0, 0, act_bits, act_bits))


@pytest.fixture
def hand():
    """max_bits 4; fc1 keeps b = 0, 2 (signed, step 2^-3), fc2 keeps b = 3 (unsigned, 2^-5), out b = 1..3 (2^-2)."""
    layers = (_layer("fc1", (0, 2), -3, 1, 3), _layer("fc2", (3,), -5, 0, 2), _layer("out", (1, 2, 3), -2, 1, 1))
    return Precisions(ModelSpec("hand", (4,), 3), 4, "pow2", layers)


def geometry_of(model: str):
    from csq_hw import build_model, model_info

    return trace_geometry(build_model(model), model_info(model).input_shape)


def _draw(fig: Figure) -> None:
    FigureCanvasAgg(fig).draw()


def _first_lines(ticks) -> list[str]:
    return [t.get_text().split("\n")[0] for t in ticks]


COSTS = pd.DataFrame({"lut": [12000.0, 300.0], "dsp": [0.0, 4.0], "ff": [900.0, 80.0]}, index=["fc1", "fc2"])
CURVES = pd.DataFrame({"bops": [4.0, 16.0, 64.0, 256.0], "dsp": [0.0, 0.0, 8.0, 8.0]}, index=pd.Index([2, 4, 6, 8]))
SWEEP = pd.DataFrame({
    "method": ["csq", "csq", "qat", "qat"], "uniform_bits": [None, None, 2, 8], "test_acc": [0.6, 0.8, 0.5, 0.85],
    "cost_bops": [1e4, 4e4, 5e3, 2e6], "cost_lut": [1200.0, 1400.0, 0.0, 1500.0], "cost_dsp": [0.0, 40.0, 4.0, 400.0],
})  # fmt: skip


def _calls(run_dir, hand):
    """(name, call(path=..., ax=...)) for every plot function."""
    return [
        ("fronts", lambda **kw: plot_fronts(SWEEP, ["bops"], **kw)),
        ("layer_bits", lambda **kw: plot_layer_bits(run_dir, **kw)),
        ("bit_map", lambda **kw: plot_bit_map(hand, **kw)),
        ("resources", lambda **kw: plot_layer_resources(COSTS, **kw)),
        ("share", lambda **kw: plot_device_share(COSTS, "xcvu9p", **kw)),
        ("curves", lambda **kw: plot_cost_curves(CURVES, **kw)),
    ]


def test_each_plot_returns_a_figure_takes_ax_and_writes_only_when_asked(run_dir, hand, tmp_path, monkeypatch):
    cwd, out = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for name, call in _calls(run_dir, hand):
        fig = call()
        assert isinstance(fig, Figure) and fig.axes, name
        mine = Figure()
        ax = mine.add_subplot()
        assert call(ax=ax) is mine, name
        assert ax.has_data() or ax.images, name  # drew into the given Axes
        call(path=out / f"{name}.png")
        assert (out / f"{name}.png").read_bytes()[:8] == PNG, name
    assert list(cwd.iterdir()) == []  # nothing written without a path
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.png" for n, _ in _calls(run_dir, hand))


def test_save_figure_formats(tmp_path):
    fig = plot_cost_curves(CURVES)
    assert [p.name for p in save_figure(fig, tmp_path / "c")] == ["c.png", "c.svg"]  # no suffix: PNG and SVG
    assert [p.name for p in save_figure(fig, tmp_path / "c.pdf")] == ["c.pdf"]
    assert [p.name for p in save_figure(fig, tmp_path / "sweep-1.5")] == ["sweep-1.5.png", "sweep-1.5.svg"]
    assert (tmp_path / "c.pdf").read_bytes()[:4] == b"%PDF"
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_log_axes_where_the_data_span_decades():
    # bops 5e3 .. 2e6: 400x (> 2 decades) -> log; lut 1200 .. 1500 (the 0 aside): 1.25x -> linear
    fig = plot_fronts(SWEEP, ["bops", "lut"])
    assert [ax.get_xscale() for ax in fig.axes[:2]] == ["log", "linear"]
    # per-layer counts 4 .. 12000 (3.5 decades) -> log
    assert plot_layer_resources(COSTS).axes[0].get_yscale() == "log"
    flat = pd.DataFrame({"lut": [1000.0, 1500.0]}, index=["a", "b"])
    assert plot_layer_resources(flat).axes[0].get_yscale() == "linear"
    assert plot_cost_curves(CURVES).axes[0].get_yscale() == "log"  # 4 .. 256: 64x


def test_zeros_on_a_log_axis_are_not_drawn_at_minus_infinity():
    ax = plot_cost_curves(CURVES).axes[0]
    dsp = next(line for line in ax.get_lines() if line.get_label().startswith("dsp"))
    y = np.asarray(dsp.get_ydata(), dtype=float)
    assert np.isnan(y[:2]).all() and list(y[2:]) == [8.0, 8.0]  # the zeros at 2 and 4 bits masked, not -inf
    assert "not drawn" in dsp.get_label()
    # dsp 4 .. 400 (2 decades) -> log; the CSQ run at 0 DSP is masked (NaN), not drawn at -inf, and counted
    panel = plot_fronts(SWEEP, ["dsp"]).axes[0]
    assert panel.get_xscale() == "log"
    xs = np.concatenate([np.asarray(c.get_offsets())[:, 0] for c in panel.collections])
    assert np.isnan(xs).sum() == 1 and (xs[np.isfinite(xs)] > 0).all()
    assert all((np.asarray(line.get_xdata(), dtype=float) > 0).all() for line in panel.get_lines())
    assert "1 run(s) at 0 not drawn (log axis)" in [t.get_text() for t in panel.texts]
    # per-layer bars on a log axis: a zero has no bar but a "0" mark
    res = plot_layer_resources(COSTS, resources=["lut", "dsp"]).axes[0]
    assert len(res.patches) == 3 and all(p.get_height() > 0 for p in res.patches)  # fc1's DSP 0 left out
    assert "0" in [t.get_text() for t in res.texts]


def test_bit_axes_have_integer_ticks_only(run_dir, hand):
    # hand-made widths 1..3: matplotlib's default locator would tick at 0.5 steps
    for source in (hand, run_dir):
        ax = plot_layer_bits(source).axes[0]
        _draw(ax.figure)
        ticks = ax.get_yticks()
        assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)
    ax = plot_cost_curves(CURVES, log=False).axes[0]
    _draw(ax.figure)
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_layer_ticks_are_the_models_layer_names(run_dir, hand):
    names = [la["name"] for la in json.loads((run_dir / "precisions.json").read_text())["layers"]]
    assert names == ["0", "2", "4"]  # digits-mlp is an nn.Sequential: the module names are the indices
    assert _first_lines(plot_layer_bits(run_dir).axes[0].get_xticklabels()) == names
    assert _first_lines(plot_bit_map(run_dir).axes[0].get_yticklabels()) == names
    assert _first_lines(plot_layer_resources(run_dir).axes[0].get_xticklabels()) == names
    assert _first_lines(plot_layer_bits(hand).axes[0].get_xticklabels()) == ["fc1", "fc2", "out"]
    assert layer_labels(hand)[0] == "fc1\nlinear\n4→3"  # weight (3, 4): 4 inputs, 3 outputs
    assert layer_labels(hand, lines=2)[0] == "fc1\nlinear 4→3"
    at6 = cost_table(geometry_of("digits-mlp"), uniform_bits(geometry_of("digits-mlp"), 6, 6), ["lut"])
    ticks = plot_layer_resources(at6).axes[0].get_xticklabels()  # a cost_table: its layer names and ops
    assert [t.get_text() for t in ticks] == ["0\nlinear", "2\nlinear", "4\nlinear"]
    assert _first_lines(plot_layer_resources(COSTS).axes[0].get_xticklabels()) == ["fc1", "fc2"]


def test_bit_map_marks_exactly_the_selected_positions(hand):
    e, p, s, g = EMPTY, SPAN, SELECTED, SIGN
    # columns: sign, then b = 3, 2, 1, 0 (MSB left)
    expected = np.array([
        [g, e, s, p, s],  # fc1: b = 0, 2 kept, b = 1 inside the span, signed
        [e, s, e, e, e],  # fc2: b = 3, unsigned
        [g, s, s, s, e],  # out: b = 1, 2, 3
    ])  # fmt: skip
    image = np.asarray(plot_bit_map(hand).axes[0].images[0].get_array())
    np.testing.assert_array_equal(image, expected)
    assert bit_map(hand).columns == (3, 2, 1, 0)
    # exponents: fc1 2^-3, 2^-1; fc2 2^(3-5) = 2^-2; out 2^(1-2) .. 2^(3-2) = 2^-1 .. 2^1 -> columns 1 .. -3
    bm = bit_map(hand, exponents=True)
    assert bm.columns == (1, 0, -1, -2, -3)
    np.testing.assert_array_equal(bm.image(), [[g, e, e, s, p, s], [e, e, e, e, s, e], [g, s, s, s, e, e]])


def test_bit_map_of_a_trained_run_matches_its_precisions(run_dir):
    prec = json.loads((run_dir / "precisions.json").read_text())
    bm = bit_map(run_dir)
    for row, layer in zip(bm.cells, prec["layers"], strict=True):
        kept = {bm.columns[j] for j in np.flatnonzero(row == SELECTED)}
        assert kept == set(layer["weight"]["positions"])


def test_device_share_is_cost_over_capacity():
    # xcvu9p: 1,182,240 LUT, 6,840 DSP, 2,364,480 FF, 2,160 BRAM36 (DS890)
    # lut 59,112 / 1,182,240 = 0.05 -> 5 %; dsp 684 / 6,840 = 0.1 -> 10 %; ff 23,644.8 / 2,364,480 = 0.01 -> 1 %
    totals = {"lut": 59112.0, "dsp": 684.0, "ff": 23644.8, "bram": 0.0}
    ax = plot_device_share(totals, "xcvu9p").axes[0]
    assert ax.get_xscale() == "log"  # 1 % .. 10 %: one decade
    np.testing.assert_allclose([b.get_width() for b in ax.patches], [5.0, 10.0, 1.0])  # BRAM 0: no bar on log x
    assert any(t.get_text().startswith("0 (of 2,160)") for t in ax.texts)
    assert fpga_part("vu9p").share(totals) == pytest.approx({"lut": 0.05, "dsp": 0.1, "ff": 0.01, "bram": 0.0})
    # per layer, as percent of a part: fc1 12,000 LUT / 53,200 (xc7z020) = 22.556 %
    res = plot_layer_resources(COSTS, resources=["lut"], part="xc7z020").axes[0]
    assert res.patches[0].get_height() == pytest.approx(100 * 12000 / 53200)
    # a per-layer table is summed first: lut 12,000 + 300 = 12,300 -> 12,300 / 1,182,240 = 1.0404 %
    summed = plot_device_share(COSTS, "xcvu9p", resources=["lut"]).axes[0]
    assert summed.patches[0].get_width() == pytest.approx(100 * 12300 / 1182240)


def test_legends_sit_outside_the_axes(run_dir, hand):
    for name, call in _calls(run_dir, hand):
        fig = call()
        _draw(fig)
        legends = [(ax, ax.get_legend()) for ax in fig.axes if ax.get_legend() is not None]
        if name == "share":
            assert not legends  # one bar per resource, labelled on the axis
            continue
        assert legends, name
        for ax, leg in legends:
            box = leg.get_window_extent().transformed(ax.transAxes.inverted())
            assert box.x0 >= 1.0 or box.y0 >= 1.0, (name, box)  # right of or above the data area


def test_run_layer_costs_match_the_cost_cli(run_dir, capsys):
    from csq_hw.cli.main import main

    assert main(["cost", "--run", str(run_dir), "--json", "--cost", "lut", "--cost", "dsp", "--cost", "ff"]) == 0
    cli = json.loads(capsys.readouterr().out)["costs"]
    table = run_layer_costs(run_dir, ["lut", "dsp", "ff"])
    assert list(table.index) == ["0", "2", "4"]
    for layer, row in table.iterrows():
        assert row["lut"] == pytest.approx(cli[layer]["lut [LUT]"])
        assert row["ff"] == pytest.approx(cli[layer]["ff [FF]"])


def test_fpga_parts_table():
    vu9p = fpga_part("xcvu9p")
    assert (vu9p.lut, vu9p.ff, vu9p.dsp, vu9p.bram36) == (1182240, 2364480, 6840, 2160)
    assert "DS890" in vu9p.source
    for alias in ("XCVU9P-FLGA2104-2L-E", "vu9p", "vcu118"):
        assert fpga_part(alias) is vu9p
    assert fpga_part("Alveo U250").name == "xcu250" and fpga_part("u250").dsp == 12288
    assert fpga_part("xc7z020").capacity("lut:da") == 53200  # cost-model options are ignored
    parts = fpga_parts()
    assert len({p.name for p in parts}) == len(parts) and all(p.source for p in parts)
    assert all(p.lut > 0 and p.ff >= p.lut and p.dsp > 0 and p.bram36 > 0 for p in parts)
    with pytest.raises(CostError, match="did you mean 'xcvu9p'"):
        fpga_part("xcvu9")
    with pytest.raises(CostError, match="no device capacity"):
        vu9p.capacity("bops")


def test_user_axes_for_fronts_and_bad_ax(run_dir):
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert plot_fronts(SWEEP, ["bops", "lut"], ax=axes) is fig
    assert all(isinstance(a, Axes) and a.get_lines() for a in axes)
    from csq_hw import UserError

    with pytest.raises(UserError, match="ax= gives 1 Axes for 2 panels"):
        plot_fronts(SWEEP, ["bops", "lut"], ax=axes[0])


def test_plots_never_touch_pyplot(run_dir):
    code = (
        "import sys, pandas as pd; from csq_hw.plots import plot_layer_bits, plot_bit_map; "
        f"plot_layer_bits({str(run_dir)!r}); plot_bit_map({str(run_dir)!r}); "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
