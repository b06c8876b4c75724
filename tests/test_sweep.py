"""Sweeps: points, resume, the results table, the uniform baseline, Pareto fronts, plots and bad input."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from csq_hw import TrainConfig, UserError, load_config
from csq_hw.cli.main import main
from csq_hw.sweep import budget_list, load_results, parse_budget_values, run_point, run_sweep
from csq_hw.sweep.pareto import min_cost_at_accuracy, pareto_front, pareto_mask
from csq_hw.sweep.table import read_run

BASE = TrainConfig.from_flat(model="digits-mlp", dataset="digits", epochs=2, seed=0)
BUDGETS = ["size=u2", "size=u3"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    df = run_sweep(BASE, BUDGETS, out, workers=1, baseline_bits=[2, 4], progress=False)
    return out, df


def test_table_columns_and_run_dirs(sweep):
    out, df = sweep
    assert list(df.method) == ["csq", "csq", "qat", "qat"]  # plain QAT is the default baseline
    assert list(df.budget_spec) == ["size=u2", "size=u3", "size=u2", "size=u4"]
    for col in ("budget_value", "test_acc", "soft_test_acc", "cost_size", "cost_bops", "cost_lut", "run_dir", "seed",
                "w_bits_0", "a_bits_4", "layer_bits", "uniform_bits"):  # fmt: skip
        assert col in df.columns, col
    assert (out / "results.csv").is_file() and json.loads((out / "sweep.json").read_text())["version"] == 1
    pd.testing.assert_frame_equal(load_results(out), df, check_dtype=False)
    for _, row in df.iterrows():
        assert 0 <= row.test_acc <= 1
        run = row.run_dir
        assert json.loads(open(f"{run}/summary.json").read())["test_acc"] == row.test_acc
    csq = df[df.method == "csq"]
    assert (csq.cost_size <= csq.budget_value).all()  # CSQ respects its budget
    u4 = df[(df.method == "qat") & (df.uniform_bits == 4)].iloc[0]
    assert [u4[f"w_bits_{n}"] for n in ("0", "2", "4")] == [4, 4, 4]
    assert [u4[f"a_bits_{n}"] for n in ("0", "2", "4")] == [4, 4, 4]
    assert u4.cost_size == u4.budget_value and u4.cost_over_budget == 1.0  # priced at its fixed bits
    assert json.loads(u4.layer_bits)["2"] == {"w": 4, "a": 4}


def test_resume_skips_finished_points(sweep):
    out, df = sweep
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/summary.json")}
    assert len(stamps) == 4
    calls = []

    def spy(points, workers):
        calls.extend(points)
        return []

    again = run_sweep(BASE, BUDGETS, out, baseline_bits=[2, 4], backend=spy, progress=False)
    assert calls == []  # nothing handed to the backend
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/summary.json")} == stamps
    pd.testing.assert_frame_equal(again, df)
    with pytest.raises(UserError, match="different settings \\(epochs\\)"):
        run_sweep(BASE.replace(epochs=3), BUDGETS, out, baseline_bits=[2, 4], backend=spy, progress=False)


def test_two_workers_and_pluggable_backend(tmp_path):
    df = run_sweep(BASE, ["size=u3"], tmp_path / "w2", workers=2, baseline_bits=[3], baseline="uniform",
                   progress=False)  # fmt: skip
    assert sorted(df.method) == ["csq", "uniform"] and df.test_acc.between(0, 1).all()  # the bit-plane ablation
    seen = []

    def serial(points, workers):  # what a Ray backend does, minus Ray
        for p in points:
            seen.append(p.label)
            from csq_hw.sweep import PointResult

            yield PointResult(p, summary=run_point(p.cfg, p.run_dir))

    df2 = run_sweep(BASE, ["size=2e4"], tmp_path / "custom", backend=serial, progress=False)
    assert seen == ["size=2e4"] and len(df2) == 1


def test_uniform_config_validation(tmp_path):
    with pytest.raises(UserError, match="fixed act_bits"):
        TrainConfig.from_flat(uniform=True, act_bits="search")
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[model]\nuniform = "yes"\n')
    with pytest.raises(UserError, match="true or false"):
        load_config(cfg_file)
    cfg_file.write_text("[model]\nuniform = true\nmax_bits = 3\nact_bits = 3\n")
    assert load_config(cfg_file).train.uniform


def test_budget_parsing():
    assert parse_budget_values("1e5, 2e5,u3,1e5") == ["100000", "200000", "u3"]
    values = [float(v) for v in parse_budget_values(budget_range="1e4:1e6:3")]
    assert values == pytest.approx([1e4, 1e5, 1e6])
    # a value listed or produced by a range is the same point (same text, so a resumed sweep skips it):
    # 2e5 .. 1.6e6 in 5 log steps: 2e5 * 8^(j/4) -> 200000, 336359.5 -> 336400 (4 significant digits), ...
    assert parse_budget_values("2e5,1.6e6", "2e5:1.6e6:5") == ["200000", "1.6e+06", "336400", "565700", "951400"]
    assert budget_list("bops", [1000, 2000]) == ["bops=1000", "bops=2000"]
    for bad in ("1e4:1e6", "1e6:1e4:3", "1e4:1e6:x", "0:1:2"):
        with pytest.raises(UserError):
            parse_budget_values(budget_range=bad)
    with pytest.raises(UserError, match="not a number"):
        parse_budget_values("abc")


def test_pareto_front_hand_made():
    df = pd.DataFrame(
        {
            "cost_bops": [10, 20, 20, 30, 40, 5, 50, math.nan, 35],
            "test_acc": [0.50, 0.70, 0.60, 0.65, 0.90, 0.40, 0.90, 0.99, 0.90],
        },
        index=list("abcdefghi"),
    )
    # front: e (5, .40), a (10, .50), b (20, .70), i (35, .90); c, d dominated; e beats g and i ties at .90 cheaper
    front = pareto_front(df, "bops")
    assert list(front.index) == ["f", "a", "b", "i"]
    assert list(pareto_mask(df, "cost_bops")[lambda s: s].index) == ["a", "b", "f", "i"]
    assert min_cost_at_accuracy(df, "bops", 0.69).name == "b"
    assert min_cost_at_accuracy(df, "bops", 0.95) is None


def test_plots_and_plot_only_cli(sweep, tmp_path, capsys):
    from csq_hw.plots import plot_fronts, plot_layer_bits, save_figure

    out, df = sweep
    files = save_figure(plot_fronts(df, ["size", "bops"]), tmp_path / "fronts")
    assert [f.name for f in files] == ["fronts.png", "fronts.svg"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in files[1].read_bytes()[:2000]
    (layer,) = save_figure(plot_layer_bits(df.run_dir[0]), tmp_path / "layers.svg")
    assert layer.stat().st_size > 1000
    assert main(["sweep", "--plot-only", str(out), "--plot-costs", "size,lut"]) == 0
    assert (out / "fronts.png").stat().st_size > 1000 and (out / "fronts.svg").stat().st_size > 1000
    assert list(out.glob("layer_bits_csq-*.png"))


def _cli_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("csq-hw: error:") and "\n" not in err
    return err


def test_bad_input(sweep, tmp_path, capsys):
    out, _ = sweep
    common = ["sweep", "--model", "digits-mlp", "--dataset", "digits", "--cost", "size", "--out", str(tmp_path / "s")]
    assert "empty budget list" in _cli_error([*common, "--budgets", " , "], capsys)
    err = _cli_error([*common, "--budgets", "1,2e4,1e12"], capsys)
    assert "2 of 3 budgets infeasible (size=1, size=1e+12)" in err
    assert not (tmp_path / "s").exists()  # nothing trained or written
    assert "no results table" in _cli_error(["sweep", "--plot-only", str(tmp_path / "nothing")], capsys)
    with pytest.raises(UserError, match="empty budget list"):
        run_sweep(BASE, [], tmp_path / "e", progress=False)
    # a run directory written by another schema/version
    run = tmp_path / "old"
    run.mkdir()
    (run / "precisions.json").write_text(json.dumps({"schema": "csq-hw/precisions", "version": 0}))
    (run / "summary.json").write_text(json.dumps({"test_acc": 0.5}))
    with pytest.raises(UserError, match="version 0; this csq-hw reads 'csq-hw/precisions' version 1"):
        read_run(run)
    good = json.loads(open(f"{load_results(out).run_dir[0]}/precisions.json").read())
    (run / "precisions.json").write_text(json.dumps(good))
    with pytest.raises(UserError, match="older csq-hw \\(no soft_test_acc, costs"):
        read_run(run)
    assert "older csq-hw" in _cli_error(["sweep", "--plot-only", str(out), "--layer-plot", str(run)], capsys)


def test_parquet_where_pyarrow_is_installed(tmp_path):
    pytest.importorskip("pyarrow")
    from csq_hw.sweep.table import write_results

    df = pd.DataFrame({"method": ["csq"], "budget_spec": ["bops=1e5"], "test_acc": [0.5], "run_dir": ["/x"]})
    paths = write_results(df, tmp_path)
    assert [p.name for p in paths] == ["results.csv", "results.parquet"]
    pd.testing.assert_frame_equal(load_results(tmp_path / "results.parquet"), df)


def test_import_csq_hw_keeps_matplotlib_out():
    import subprocess
    import sys

    code = "import sys, csq_hw, csq_hw.sweep.runner, csq_hw.sweep.pareto; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
