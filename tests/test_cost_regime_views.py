"""What people see of the regimes: the plot (csq_hw.plots.plot_layer_regimes) and the MobileNetV2 benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib.colors as mcolors
import pytest
from matplotlib.figure import Figure
from torch import nn

from cost_models import LayerBits, trace_geometry
from cost_models.regimes import regime_table
from csq_hw.plots import plot_layer_regimes
from csq_hw.plots.regimes import REGIME_COLORS

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "bitserial_regimes.py"


def _table():
    geometry = trace_geometry(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=4),
                                            nn.Flatten(), nn.Linear(64, 10)), (2, 4, 4))  # fmt: skip
    return regime_table("latency:bismo,bw8", geometry, {g.name: LayerBits.uniform(4, 3) for g in geometry})


def test_plot_colours_each_layer_by_its_regime(tmp_path):
    table = _table()
    fig = plot_layer_regimes(table, title="bismo")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    bars = ax.patches[: len(table) - 1]  # TOTAL is not drawn
    for bar, regime in zip(bars, table["regime"].iloc[:-1], strict=True):
        assert mcolors.same_color(bar.get_facecolor()[:3], REGIME_COLORS[regime])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "3"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("activation-bound (") for t in legend) and "weight load" in legend
    assert ax.get_ylabel() == "latency [cycle]"
    # into a given Axes, and a file only when asked
    other = Figure()
    assert plot_layer_regimes(table, ax=other.add_subplot()) is other
    assert not list(tmp_path.iterdir())
    plot_layer_regimes(table, tmp_path / "regimes.png")
    assert (tmp_path / "regimes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_mobilenet_v2_bismo(capsys):
    spec = importlib.util.spec_from_file_location("bitserial_regimes", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model, _origin = bench.mobilenet_v2()
    geometry = trace_geometry(model, (3, 224, 224))
    assert len(geometry) == 53 and sum(g.groups > 1 for g in geometry) == 17
    assert sum(g.macs for g in geometry) == 300_774_272  # torchvision's MobileNetV2: ~300 M MACs
    assert bench.main(["--cost", "latency:bismo,b16", "--bits", "4,4", "2,8", "8,2"]) == 0
    out = capsys.readouterr().out
    assert "* w4a4: 3 regimes present (compute, weight, activation)" in out
    line = next(x for x in out.splitlines() if x.startswith("* (w, a) = (2, 8)"))
    totals = [float(x.split(" cycles")[0].replace(",", "")) for x in line.split(": ")[1:3]]
    assert totals[0] != pytest.approx(totals[1])
