"""Run directories open without unpickling (issue 27): the architecture is JSON read through a closed table of
layers and functions, checkpoints load with ``weights_only=True``, crafted pickles are refused with one line and
nothing in them runs, an older run converts with ``csq-hw upgrade-run --trust``, and a damaged summary.json is a
one-line error in every reader."""

from __future__ import annotations

import json
import operator

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import csq_hw
from csq_hw.cli.main import main
from csq_hw.errors import UserError
from csq_hw.handoff.run_summary import read_summary
from csq_hw.zoo.architecture import architecture_dict, architecture_from_dict, load_architecture, save_architecture


class Residual1d(nn.Module):
    """Every kind of node the table holds: modules with arguments, a function add, a method, flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv1d(2, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm1d(4, eps=1e-3)
        self.block = nn.Sequential(nn.Conv1d(4, 4, 3, padding=1), nn.ReLU())
        self.pool = nn.AvgPool1d(2)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        h = F.relu(self.bn(self.stem(x)))
        h = operator.add(self.block(h), h).relu()
        return self.fc(self.drop(torch.flatten(self.pool(h), 1)))


class _Marker:
    """A pickle that creates ``path`` when it is unpickled (what a crafted run file would do)."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_architecture_json_round_trip_keeps_names_arguments_and_outputs(tmp_path):
    torch.manual_seed(0)
    model = Residual1d().eval()
    path = save_architecture(tmp_path / "architecture.json", model, (2, 8), 3)
    doc = json.loads(path.read_text())
    one = {"tuple": [1]}
    assert doc["modules"]["stem"] == {"type": "Conv1d", "config": {
        "in_channels": 2, "out_channels": 4, "kernel_size": {"tuple": [3]}, "stride": one, "padding": one,
        "dilation": one, "groups": 1, "bias": False, "padding_mode": "zeros"}}  # fmt: skip
    assert doc["modules"]["bn"]["config"]["eps"] == 1e-3 and "block.0" in doc["modules"]
    rebuilt = load_architecture(path)
    names = {n for n, m in fx.symbolic_trace(model).named_modules() if n and not isinstance(m, nn.Sequential)}
    assert {n for n, m in rebuilt.named_modules() if n and not isinstance(m, nn.Sequential)} == names
    rebuilt.load_state_dict(model.state_dict())  # same layer names and shapes: the state fits
    x = torch.randn(5, 2, 8)
    assert torch.equal(rebuilt.eval()(x), model(x))


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["modules"]["stem"].update(type="os.system"), "module 'stem' is not one of"),
    (lambda d: d["nodes"][2].update(target="os.system", op="call_function"), "calls 'os.system', not one of"),
    (lambda d: d["nodes"][2].update(target="__reduce__", op="call_method"), "calls the method '__reduce__'"),
    (lambda d: d["modules"]["fc"]["config"].update(device="meta"), "unknown arguments ['device']"),
    (lambda d: d.update(version=1), "version 1"),
    (lambda d: d["nodes"][1]["args"].update(tuple=[{"node": "nowhere"}]), "before it is defined"),
])  # fmt: skip
def test_a_crafted_architecture_json_is_refused_in_one_line(tmp_path, edit, words):
    doc = architecture_dict(Residual1d(), (2, 8), 3)
    edit(doc)
    path = tmp_path / "architecture.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="does not hold a csq-hw architecture") as info:
        load_architecture(path)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_an_architecture_json_cannot_reach_a_callable_by_name():
    """The function table is closed: ``target`` names in the file never go through import machinery."""
    doc = architecture_dict(Residual1d(), (2, 8), 3)
    for name in ("builtins.eval", "subprocess.run", "torch.load", "csq_hw.zoo.architecture.upgrade_pickle"):
        doc["nodes"][3].update(op="call_function", target=name)
        with pytest.raises(Exception, match="not one of"):
            architecture_from_dict(doc)


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    """A finished run of a user model (its architecture travels as architecture.json)."""
    out = tmp_path_factory.mktemp("user") / "run"
    torch.manual_seed(0)
    x, y = torch.randn(256, 2, 8), torch.randint(0, 3, (256,))
    csq_hw.fit(Residual1d(), (x, y), (x[:64], y[:64]), budget="size=u4", epochs=2, out=out, progress=False)
    return out


def _copy(run, tmp_path):
    import shutil

    return shutil.copytree(run, tmp_path / "copy")


def test_a_pickled_architecture_is_refused_and_nothing_in_it_runs(user_run, tmp_path, capsys):
    run = _copy(user_run, tmp_path)
    marker = tmp_path / "ran"
    torch.save({"format": "csq-hw/architecture", "version": 1, "module": _Marker(marker)}, run / "architecture.pt")
    prec = json.loads((run / "precisions.json").read_text())
    prec["model"]["architecture"] = "architecture.pt"  # what a run directory of csq-hw < 0.3 says
    (run / "precisions.json").write_text(json.dumps(prec))
    with pytest.raises(UserError, match="is a pickle written by an older csq-hw") as info:
        csq_hw.load_run(run)
    assert "csq-hw upgrade-run" in str(info.value) and "\n" not in str(info.value)
    assert main(["cost", "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unpickling can run code" in err
    assert not marker.exists()


def test_a_crafted_checkpoint_is_refused_and_nothing_in_it_runs(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "ran"
    torch.save({"format": "csq-hw/checkpoint", "version": 2, "rng": _Marker(marker)}, out / "checkpoint.pt")
    code = main(["train", "--model", "digits-mlp", "--dataset", "digits", "--budget", "size=u4", "--epochs", "2",
                 "--out", str(out), "--resume", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "holds objects other than tensors and plain data" in err and "was not loaded" in err
    assert not marker.exists()


def test_a_checkpoint_holds_only_tensors_and_plain_data(tmp_path):
    import numpy as np

    from csq_hw.runtime.checkpoint import rng_state, save_checkpoint, set_rng_state

    np.random.seed(7)
    state = rng_state()
    save_checkpoint(tmp_path, rng=state)
    blob = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # raises on anything but plain data
    a = np.random.rand(3)
    set_rng_state(blob["rng"])
    assert np.array_equal(np.random.rand(3), a)  # the numpy generator's state survives the tensor form


def test_upgrade_run_converts_a_trusted_pickle_and_the_run_exports(user_run, tmp_path, capsys):
    run = _copy(user_run, tmp_path)
    old = fx.symbolic_trace(Residual1d())
    for node in old.graph.nodes:
        node.type = None
    torch.save({"format": "csq-hw/architecture", "version": 1, "module": old, "input_shape": [2, 8], "n_classes": 3},
               run / "architecture.pt")  # fmt: skip
    (run / "architecture.json").unlink()
    prec = json.loads((run / "precisions.json").read_text())
    prec["model"]["architecture"] = "architecture.pt"
    (run / "precisions.json").write_text(json.dumps(prec, indent=2) + "\n")
    blob = torch.load(run / "exact_model.pt", weights_only=True)
    blob["precisions"]["model"]["architecture"] = "architecture.pt"
    torch.save(blob, run / "exact_model.pt")
    summary = json.loads((run / "summary.json").read_text())
    from csq_hw.runtime.atomic_io import sha256_file

    summary["files"] = {n: sha256_file(run / n) for n in ("precisions.json", "exact_model.pt", "architecture.pt")}
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["upgrade-run", str(run)]) == 2  # without --trust: refused, nothing unpickled
    assert "pass --trust" in capsys.readouterr().err
    assert main(["upgrade-run", str(run), "--trust"]) == 0
    assert json.loads((run / "precisions.json").read_text())["model"]["architecture"] == "architecture.json"
    loaded = csq_hw.load_run(run)
    x = torch.randn(4, 2, 8).double()
    assert torch.equal(loaded.exact(x), csq_hw.load_run(user_run).exact(x))
    from hls.run_check import check_digests

    assert check_digests(run, read_summary(run))  # the digests follow the converted files


@pytest.mark.parametrize("field, value", [("test_acc", "high"), ("final_cost", [1]), ("budget", 3), ("files", "x")])
def test_a_damaged_summary_is_a_one_line_error_in_every_reader(user_run, tmp_path, capsys, field, value):
    run = _copy(user_run, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    summary[field] = value
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(UserError, match=f"{field} is .*, not an? "):
        csq_hw.load_run(run)
    assert main(["cost", "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{field} is" in err


def test_every_torch_load_in_the_package_is_weights_only_but_the_trusted_upgrade():
    """The run-directory readers (exact_model.pt, checkpoint.pt) take the safe path; the one full unpickling is
    ``upgrade_pickle``, behind ``csq-hw upgrade-run --trust``."""
    import ast
    from pathlib import Path

    root = Path(csq_hw.__file__).parents[1]
    unsafe = []
    for path in [*(root / "csq_hw").rglob("*.py"), *(root / "hls").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
                named = ast.unparse(call.func)
                if named == "torch.load":
                    flag = {k.arg: ast.unparse(k.value) for k in call.keywords}.get("weights_only")
                    if flag != "True":
                        unsafe.append(f"{path.name}:{func.name}")
                elif named in ("pickle.load", "pickle.loads") and path.name != "cifar10.py":  # CIFAR's own archive
                    unsafe.append(f"{path.name}:{func.name}")
    assert unsafe == ["architecture.py:upgrade_pickle"]
