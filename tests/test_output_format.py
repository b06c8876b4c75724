"""Output a person reads (#14): ``csq-hw cost --format``, the run summary, ``--log-format plain``, export progress and
the warning for an exact model far below the soft one."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import shutil
import warnings

import pandas as pd
import pytest

from cost_models import get_cost_model
from csq_hw.cli.main import main
from csq_hw.errors import CsqWarning
from csq_hw.runtime.progress import LoopProgress, step_bar
from csq_hw.text_table import column_formatter, render_table
from csq_hw.train.config import load_config
from csq_hw.train.run_checks import SOFT_GAP_POINTS, run_warnings
from csq_hw.train.summary_report import summary_lines
from csq_hw.train.train_run import train_run

EPOCHS = 2
FIXED = re.compile(r"^-?\d{1,3}(,\d{3})*(\.(?P<dec>\d+))?$")  # 1,234.5
ENG = re.compile(r"^-?\d{1,3}\.\d+e[+-]\d{2}$")  # 1.850e+09


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """A 2-epoch digits-MLP run trained with ``log_format="plain"``; its stderr captured."""
    out = tmp_path_factory.mktemp("plain") / "run"
    cfg = load_config(None, model="digits-mlp", dataset="digits", budget="size=u3", epochs=EPOCHS)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = train_run(cfg, out, log_format="plain")
    return out, summary, err.getvalue()


def _cost(capsys, *argv: str) -> str:
    assert main(["cost", *argv]) == 0
    return capsys.readouterr().out


# -- csq-hw cost --format ------------------------------------------------------------------------------------------


def test_cost_formats_parse_back(capsys):
    # digits-mlp 64-64-32-10: MACs 64*64 + 64*32 + 32*10 = 4,096 + 2,048 + 320 = 6,464; at 3-bit weights and
    # activations bops = 6,464 * 3 * 3 = 58,176 and size (biases not counted) = 6,464 weights * 3 = 19,392 bit
    argv = ["--model", "digits-mlp", "--bits", "3", "--cost", "bops", "--cost", "size"]
    csv = pd.read_csv(io.StringIO(_cost(capsys, *argv, "--format", "csv")), index_col="layer", dtype={"layer": str})
    assert list(csv.index) == ["0", "2", "4", "TOTAL"]
    assert csv.loc["TOTAL", "bops [BOP]"] == 58_176 and csv.loc["TOTAL", "size [bit]"] == 19_392
    assert pd.isna(csv.loc["TOTAL", "w_bits"])  # not defined for a total: an empty cell, not "nan"

    data = json.loads(_cost(capsys, *argv, "--format", "json"))
    assert data["costs"]["TOTAL"]["bops [BOP]"] == 58_176 and data["costs"]["0"]["macs"] == 4_096
    assert data["costs"]["TOTAL"]["w_bits"] is None  # null, a number type everywhere else
    assert all(isinstance(v, (int, float)) for v in data["costs"]["2"].values() if not isinstance(v, str))

    md = _cost(capsys, *argv, "--format", "md").splitlines()
    assert re.fullmatch(r"\| (:---|---:)( \| (:---|---:))* \|", md[1])
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in md]
    assert cells[0][:3] == ["layer", "op", "macs [MAC]"] and len(cells[1]) == len(cells[0])
    assert [r[0] for r in cells[2:]] == list(csv.index)
    assert cells[-1][cells[0].index("bops [BOP]")] == "58,176"

    assert _cost(capsys, *argv, "--json") == _cost(capsys, *argv, "--format", "json")  # the old flag still works


def _columns(block: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each column, from the rule line of dashes under the header."""
    return [m.span() for m in re.finditer(r"-+", block[1])]


def test_cost_table_of_a_run_is_readable(plain_run, capsys):
    out, _, _ = plain_run
    text = _cost(capsys, "--run", str(out))
    assert "nan" not in text.lower()
    lines = text.splitlines()
    assert max(map(len, lines)) <= 120
    blocks = "\n".join(lines[1:]).split("\n\n")  # line 0: run=..., model=...
    assert len(blocks) >= 2  # 14 cost kinds do not fit in 120 characters: further columns in further blocks
    header = []
    for block in map(str.splitlines, blocks):
        assert block[0].startswith("layer") and [b.split()[0] for b in block[2:]] == ["0", "2", "4", "TOTAL"]
        for start, end in _columns(block)[1:]:
            name = block[0][start:end].strip()
            header.append(name)
            cells = [line[start:end].strip() for line in block[2:]]
            if name == "op":
                continue
            values = [c for c in cells if c != "-"]
            styles = {("fixed", len(FIXED.match(c)["dec"] or "")) if FIXED.match(c) else ("eng" if ENG.match(c) else c)
                      for c in values}  # fmt: skip
            assert len(styles) == 1, (name, cells)  # one style and one number of decimals per column
            assert all(len(line) < end or line[end - 1] != " " for line in block[2:])  # right-aligned numbers
    assert "energy [pJ]" in header and "lut [LUT]" in header and "macs [MAC]" in header


def test_column_formatter_one_style():
    fixed = column_formatter([289.552, 5260.16, None])
    assert [fixed(289.552), fixed(5260.16), fixed(None)] == ["290", "5,260", "-"]  # 3 digits for the smallest
    finer = column_formatter([28.94, 5260.16])
    assert [finer(28.94), finer(5260.16)] == ["28.9", "5,260.2"]
    eng = column_formatter([1.84969e9, 10_764.9, 2e10])  # 2e10 >= 1e10: the whole column in engineering notation
    assert [eng(1.84969e9), eng(10_764.9), eng(2e10)] == ["1.850e+09", "10.76e+03", "20.00e+09"]
    lines = render_table(["layer", "a", "b"], [["x", "1", "22"], ["yy", "333", "4"]], "lrr", max_width=9)
    assert lines == ["layer    a", "-----  ---", "x        1", "yy     333", "", "layer   b", "-----  --",
                     "x      22", "yy      4"]  # fmt: skip


# -- the run summary ----------------------------------------------------------------------------------------------


def test_summary_is_aligned_with_units(plain_run):
    out, summary, _ = plain_run
    lines = summary_lines(summary, out)
    text = "\n".join(lines)
    assert f"run directory: {out}" in text and "nan" not in text.lower()
    acc = next(line for line in lines if line.startswith("exact model test accuracy"))
    assert acc.split()[-2:] == [f"{100 * summary['test_acc']:.2f}", "%"]
    assert any(line.startswith("average weight bits ") and "bit (parameter-weighted)" in line for line in lines)
    start = lines.index(next(line for line in lines if line.startswith("cost ")))
    table = lines[start : lines.index("", start)]
    assert table[0].split() == ["cost", "unit", "value", "budget", "value/budget"]
    (_, _), (u0, u1), (v0, v1), (b0, b1), (r0, r1) = _columns(table)
    rows = {line[: u0 - 2].strip(): line for line in table[2:]}
    assert set(rows) == {"size (budget)", *(k for k in summary["costs"] if k != "size")}
    for name, line in rows.items():
        kind = name.removesuffix(" (budget)")
        assert line[u0:u1].strip() == get_cost_model(kind).unit, name
        assert line[v1 - 1] != " " and FIXED.match(line[v0:v1].strip()), name  # right-aligned, fixed point
    budget = rows["size (budget)"]
    assert budget[b0:b1].strip() == f"{summary['budget']['value']:,.0f}"
    assert budget[r0:r1].strip() == f"{summary['cost_over_budget']:.3f}"
    assert rows["bops"][b0:].strip() == ""  # no budget on the other costs
    layers = lines[lines.index("", start) + 1 :]
    assert layers[0].split()[:3] == ["layer", "op", "weight"] and len(layers) == 2 + len(summary["layers"])


def test_plain_log_one_line_per_epoch(plain_run):
    out, _, err = plain_run
    assert "\r" not in err  # no bar anywhere
    lines = [line for line in err.splitlines() if line.strip()]
    # the float warm start first (a third of the epochs, at least 1: one line each), then one line per CSQ epoch
    warm = max(1, round(EPOCHS / 3))
    assert len(lines) == warm + EPOCHS, lines
    for epoch, line in enumerate(lines[:warm]):
        assert line.startswith(f"float warm start: epoch {epoch + 1}/{warm}: loss ")
    lines = lines[warm:]
    for epoch, line in enumerate(lines):
        assert line.startswith(f"csq: epoch {epoch} ({epoch + 1}/{EPOCHS}): phase ")
        for field in ("T ", "loss ", "acc ", "bits ", "cost/budget ", "time "):
            assert f", {field}" in line
    metrics = pd.read_csv(out / "metrics.csv")
    for line, (_, row) in zip(lines, metrics.iterrows(), strict=True):
        assert f", acc {100 * row['test_acc']:.2f}%, " in line and f", loss {row['train_loss']:.4f}, " in line


def test_loop_progress_plain_and_disabled(capsys):
    plain = LoopProgress(3, 1, desc="sweep", unit="point", log_format="plain")
    plain.update({"point": "size-u3", "acc": "88.89%"})
    plain.update({"point": "size-u4", "acc": "90.00%"})
    plain.close()
    off = LoopProgress(3, desc="sweep", unit="point", log_format="plain", enabled=False)
    off.update({"acc": "1"})
    err = capsys.readouterr().err
    # one point was finished before: the first new one is 2/3
    assert err.splitlines() == [
        "sweep: point 2/3: point size-u3, acc 88.89%",
        "sweep: point 3/3: point size-u4, acc 90.00%",
    ]


def test_step_bar_only_for_long_epochs(capsys):
    steps = list(range(10))
    assert step_bar(steps, len(steps), False, "epoch 0") is steps  # bars off (plain format, --no-progress)
    assert list(step_bar(steps, len(steps), True, "epoch 0")) == steps
    assert capsys.readouterr().err == ""  # 10 steps < 50: shown only after 10 s, and this loop takes microseconds
    assert list(step_bar(range(60), 60, True, "epoch 7")) == list(range(60))
    assert "epoch 7" in capsys.readouterr().err  # >= 50 steps: a per-step bar at once


# -- the far-below-soft warning -----------------------------------------------------------------------------------


def test_warning_when_exact_far_below_soft():
    with pytest.warns(CsqWarning, match=r"9\.00 points below the soft model's 89\.00% \(more than 5 points\)"):
        found = run_warnings([], 0.80, 10, soft_acc=0.89)  # 100 * (0.89 - 0.80) = 9 points > 5
    assert len(found) == 1
    assert SOFT_GAP_POINTS == 5.0


@pytest.mark.parametrize("test_acc, soft_acc", [(0.86, 0.90), (0.90, 0.80), (None, None), (0.90, None)])
def test_no_warning_otherwise(test_acc, soft_acc):
    # 4 points below (<= 5), above the soft model, a loss run (no accuracy), no soft accuracy
    with warnings.catch_warnings():
        warnings.simplefilter("error", CsqWarning)
        assert run_warnings([], test_acc, 10, soft_acc=soft_acc) == []


def test_chance_warning_is_not_doubled():
    with pytest.warns(CsqWarning) as record:
        run_warnings([], 0.10, 10, soft_acc=0.90)  # at chance (0.10 < 1.5 / 10) and 80 points below the soft model
    assert len(record) == 1 and "near chance" in str(record[0].message)


# -- export progress ----------------------------------------------------------------------------------------------


@pytest.mark.hls
@pytest.mark.skipif(importlib.util.find_spec("hls4ml") is None or shutil.which("g++") is None,
                    reason="needs hls4ml and g++")  # fmt: skip
def test_export_prints_its_steps(tmp_path, capsys):
    from hls_fixtures import make_run

    run = make_run(tmp_path / "run", "digits-mlp", seed=0, n_test=10)
    assert main(["export", str(run), "--out", str(tmp_path / "prj"), "--log-format", "plain"]) == 0
    err = capsys.readouterr().err.splitlines()
    report = json.loads((tmp_path / "prj" / "csq_report.json").read_text())
    steps = [line for line in err if line.startswith("export [")]
    seconds = [float(re.match(r"export \[\s*(\d+\.\d) s\] ", line)[1]) for line in steps]
    assert seconds == sorted(seconds)
    wanted = ["loading and checking the run", "integer reference and PyTorch", "converting to hls4ml",
              "writing the project", f"C simulation on {report['samples']:,} inputs",
              f"bit-exact: 0 mismatches / {report['samples']} samples"]  # fmt: skip
    assert [next(i for i, line in enumerate(steps) if w in line) for w in wanted] == list(range(len(wanted)))
    assert "compiling its C simulation with g++" in steps[3]  # hls4ml writes and compiles in one call


def test_float_warm_start_reports_each_epoch(capsys):
    import torch

    from csq_hw.train.pretrain import pretrain_float

    torch.manual_seed(0)
    x, y = torch.randn(40, 4), torch.arange(40) % 3
    model = torch.nn.Linear(4, 3)
    pretrain_float(model, x, y, epochs=2, lr=0.01, batch_size=16, seed=0, progress=True, log_format="plain")
    lines = capsys.readouterr().err.splitlines()
    # 40 samples in batches of 16: 3 steps an epoch; one line per epoch with its mean loss
    assert [line.split(": loss ")[0] for line in lines] == [
        "float warm start: epoch 1/2",
        "float warm start: epoch 2/2",
    ]
    assert all(float(line.split(": loss ")[1]) > 0 for line in lines)
    pretrain_float(model, x, y, epochs=1, lr=0.01, batch_size=16, seed=0)  # progress off by default
    assert capsys.readouterr().err == ""


def test_summary_states_a_disagreeing_pricing(plain_run):
    from csq_hw.handoff.cost_agreement import cost_agreement

    out, summary, _ = plain_run
    # a size budget prices the same bits with or without the exact weights: the run's own record agrees
    assert summary["cost_agreement"]["agree"] and summary["cost_agreement"]["note"] is None
    b = summary["budget"]
    agreement = cost_agreement("size", "bit", b["value"], summary["final_cost"],
                               {"exact weights": 1.5 * summary["final_cost"]})  # fmt: skip
    other = {**summary, "budgets": [{**summary["budgets"][0], "cost_agreement": agreement}]}
    lines = summary_lines(other, out)
    row = next(line for line in lines if line.startswith("size (exact weights)"))
    assert f"{1.5 * summary['final_cost'] / b['value']:.3f}" in row  # its value over the budget
    note = next(line for line in lines if line.startswith("note: "))
    assert note == f"note: {agreement['note']}" and "1.500 x, over the budget" in note


def test_cost_of_a_run_says_which_pricing_is_the_guarantee(plain_run, capsys):
    out, summary, _ = plain_run
    assert main(["cost", "--run", str(out)]) == 0
    note = " ".join(line.strip() for line in capsys.readouterr().err.splitlines())  # on stderr, wrapped at 120
    final = summary["final_cost"]
    assert note == (f"note: the budget size=u3 is guaranteed at its own pricing (layer widths: {final:,.6g} bit); "
                    "this table prices with the exact weights")  # fmt: skip
    meta = json.loads(_cost(capsys, "--run", str(out), "--format", "json"))["meta"]
    assert meta["pricing_notes"] == [note.removeprefix("note: ")]
