"""``csq-hw cost``: uniform bits, a (fake) trained run, JSON output and bad input."""

from __future__ import annotations

import json

import pytest

from csq_hw.cli.main import main


def _quant(bits, signed):
    k = int(signed)
    i = 2
    f = bits - k - i
    return {"bits": bits, "signed": signed, "k": k, "i": i, "f": f, "range_exponent": i, "step_exponent": -f,
            "rounding": "RND", "saturation": "SAT", "searched": True}  # fmt: skip


def _precisions(tmp_path, **over):
    # jet-mlp 16-64-32-32-5; module names of nn.Sequential: 0, 2, 4, 6. A complete, self-consistent schema-v1 file:
    # bits = number of positions, span = max - min + 1, i = e + max + 1, f = -(e + min) with e = -4.
    layers = []
    shapes = [[64, 16], [32, 64], [32, 32], [5, 32]]
    positions = [[0, 1, 3, 4], [0, 1, 2], [0, 1, 3], [0, 1, 2, 3, 5]]  # (bits, span): (4, 5) (3, 3) (3, 4) (5, 6)
    for name, shape, pos, (a, signed) in zip(
        ["0", "2", "4", "6"], shapes, positions, [(8, True), (6, False), (6, False), (6, False)], strict=True
    ):
        top = sum(1 << b for b in pos)
        layers.append({
            "name": name, "op": "linear", "weight_shape": shape,
            "weight": {"bits": len(pos), "positions": pos, "span_bits": pos[-1] - pos[0] + 1, "step": 2.0**-4,
                       "step_exponent": -4, "k": 1, "i": -4 + pos[-1] + 1, "f": 4, "int_min": -top, "int_max": top},
            "bias": {"bits": 12, "step_exponent": -8, "k": 1, "i": 3, "f": 8},
            "input": _quant(a, signed),
        })  # fmt: skip
    prec = {"schema": "csq-hw/precisions", "version": 1, "layers": layers, "max_bits": 8, "weight_step": "pow2",
            "model": {"name": "jet-mlp", "kwargs": {}, "input_shape": [16], "n_classes": 5},
            "batchnorm": [], "full_precision": []}  # fmt: skip
    prec.update(over)
    (tmp_path / "precisions.json").write_text(json.dumps(prec))
    return tmp_path


def test_model_uniform_bits_table(capsys):
    assert main(["cost", "--model", "jet-mlp", "--bits", "6", "--cost", "bops", "--cost", "size"]) == 0
    out = capsys.readouterr().out
    assert "bops [BOP]" in out and "153,216" in out and "25,536" in out  # 4,256 * 36 and 4,256 * 6


def test_model_json_w_a(capsys):
    assert main(["cost", "--model", "jet-mlp", "--bits", "6,8", "--cost", "bops", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["costs"]["TOTAL"]["bops [BOP]"] == 4256 * 48
    assert data["costs"]["0"]["bops [BOP]"] == 1024 * 48


def test_run_directory(tmp_path, capsys):
    run = _precisions(tmp_path)
    assert main(["cost", "--run", str(run), "--cost", "bops", "--cost", "size", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["costs"]
    # bops = sum MACs * b_w * b_a = 1,024*4*8 + 2,048*3*6 + 1,024*3*6 + 160*5*6 = 32,768 + 36,864 + 18,432 + 4,800
    assert data["TOTAL"]["bops [BOP]"] == 92_864
    # size = weights * bits + 133 biases * 12 = 4,096 + 6,144 + 3,072 + 800 + 1,596
    assert data["TOTAL"]["size [bit]"] == 15_708


def test_default_models_on_run(tmp_path, capsys):
    assert main(["cost", "--run", str(_precisions(tmp_path))]) == 0
    out = capsys.readouterr().out
    for col in ("ebops", "latency:bismo", "lut [LUT]", "energy [pJ]"):
        assert col in out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--model", "jet-mlp"], "--model needs --bits"),
        (["--model", "jet-mlp", "--bits", "40"], "between 1 and 32"),
        (["--model", "jet-mlp", "--bits", "6,x"], "must be integers"),
        (["--model", "nope", "--bits", "6"], "unknown model 'nope'"),
        (["--model", "jet-mlp", "--bits", "6", "--cost", "latency:tpu"], "unknown accelerator 'tpu'"),
    ],
)
def test_bad_input_one_line(argv, match, capsys):
    assert main(["cost", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err


def test_run_wrong_schema(tmp_path, capsys):
    run = _precisions(tmp_path, version=2)
    assert main(["cost", "--run", str(run)]) == 2
    assert "version 2; this csq-hw reads 'csq-hw/precisions' version 1 only" in capsys.readouterr().err
    assert main(["cost", "--run", str(tmp_path / "nowhere")]) == 2
    assert "precisions.json not found" in capsys.readouterr().err


def test_regimes_table_json_and_errors(capsys):
    # digits-cnn at 4 bits on BISMO with a narrow interface: per-layer terms, a regime per layer, totals that match
    # the cost table's
    assert main(["cost", "--model", "digits-cnn", "--bits", "4", "--regimes", "--cost", "latency:bismo,bw8",
                 "--cost", "bops", "--json"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)["regimes"]
    assert list(data) == ["latency:bismo,bw8"]  # bops has no regimes and is left out
    entry = data["latency:bismo,bw8"]
    layers = {k: v for k, v in entry["layers"].items() if k != "TOTAL"}
    assert sum(entry["counts"].values()) == len(layers) and entry["unit"] == "cycle"
    assert all(v["regime"] in ("compute", "weight", "activation") for v in layers.values())
    for v in layers.values():
        assert v["total [cycle]"] == pytest.approx(max(v["compute [cycle]"] + v["fill [cycle]"],
                                                       v["weight [cycle]"] + v["activation [cycle]"]))  # fmt: skip
    assert main(["cost", "--model", "digits-cnn", "--bits", "4", "--cost", "latency:bismo,bw8", "--json"]) == 0
    costs = json.loads(capsys.readouterr().out)["costs"]
    assert entry["layers"]["TOTAL"]["total [cycle]"] == pytest.approx(costs["TOTAL"]["latency:bismo,bw8 [cycle]"])
    # the default: every accelerator, as aligned tables with the regime counts under each
    assert main(["cost", "--model", "jet-mlp", "--bits", "6", "--regimes"]) == 0
    out = capsys.readouterr().out
    for acc in ("stripes", "loom", "bismo", "bitfusion"):
        assert f"regimes (latency:{acc}): compute" in out
    assert main(["cost", "--model", "jet-mlp", "--bits", "6", "--regimes", "--cost", "bops"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--regimes needs a latency:ACCELERATOR cost" in err and "\n" not in err
