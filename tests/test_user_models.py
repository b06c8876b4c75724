"""Your own model and data (issue 13): fit, prepare/finalize/save_run, load_run, specs and builders on the CLI,
then pricing and bit-exact export from the run directory alone."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import csq_hw
from csq_hw.cli.main import main
from csq_hw.data import load_dataset
from csq_hw.errors import UserError
from csq_hw.zoo.model_specs import build_from_spec, spec_shape


@pytest.fixture(scope="module")
def digits():
    d = load_dataset("digits")
    flat = lambda x: torch.tensor(x).reshape(len(x), -1)  # noqa: E731
    return flat(d.x_train), torch.tensor(d.y_train), flat(d.x_test), torch.tensor(d.y_test)


class TwoPartMLP(nn.Module):
    """A user MLP with nested modules (names body.0, head)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.body(x))


class ResidualConvNet(nn.Module):
    """A user Conv2d net with BatchNorm and a residual add, on (1, 8, 8) images."""

    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(c * 16, 10)

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = F.relu(self.bn(self.conv(h)) + h)
        return self.fc(torch.flatten(self.pool(h), 1))


def _export(run_dir, tmp_path):
    pytest.importorskip("hls4ml")
    prj = tmp_path / "prj"
    assert main(["export", str(run_dir), "--out", str(prj)]) == 0
    return json.loads((prj / "csq_report.json").read_text())


@pytest.mark.hls
def test_fit_user_mlp_with_a_dataloader_then_price_and_export(digits, tmp_path, capsys):
    x, y, xt, yt = digits
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)
    run = csq_hw.fit(TwoPartMLP(), loader, (xt, yt), budget="size=u3", epochs=4, out=tmp_path / "run", progress=False)
    assert run.test_acc > 0.5 and run.summary["cost_over_budget"] <= 1.0
    assert [e["name"] for e in run.precisions["layers"]] == ["body.0", "head"]
    again = csq_hw.load_run(tmp_path / "run")  # reloaded from the directory alone: the traced architecture
    with torch.no_grad():
        assert torch.equal(again.exact(xt.double()), run.exact(xt.double()))
    acc = float((again.exact(xt.double()).argmax(1) == yt).double().mean())
    assert math.isclose(acc, run.test_acc)
    assert main(["cost", "--run", str(tmp_path / "run"), "--cost", "size", "--json"]) == 0
    total = json.loads(capsys.readouterr().out)["costs"]["TOTAL"]["size [bit]"]
    assert total == run.summary["costs"]["size"]
    report = _export(tmp_path / "run", tmp_path)
    assert report["bit_exact"] and report["mismatches"] == 0
    assert math.isclose(report["run_check"]["accuracy"]["firmware_test_acc"], run.test_acc)


@pytest.mark.hls
def test_fit_user_conv_net_with_batchnorm_and_residual_add(digits, tmp_path):
    x, y, xt, yt = digits
    img = lambda t: t.reshape(len(t), 1, 8, 8)  # noqa: E731
    run = csq_hw.fit(ResidualConvNet(), (img(x), y), (img(xt), yt), budget="bops=u4", act_bits="search", epochs=3,
                     out=tmp_path / "run", progress=False)  # fmt: skip
    assert run.precisions["batchnorm"] and run.test_acc > 0.3
    report = _export(tmp_path / "run", tmp_path)
    assert report["bit_exact"] and report["mismatches"] == 0


@pytest.mark.hls
def test_fit_regression_with_mse(tmp_path):
    # y = a linear function of x: the loss must fall well below the variance of y
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(512, 8, generator=gen)
    w = torch.randn(8, 2, generator=gen)
    y = x @ w
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    run = csq_hw.fit(net, (x[:400], y[:400]), (x[400:], y[400:]), budget="size=u6", loss_fn=F.mse_loss,
                     epochs=6, lr=0.02, out=tmp_path / "run", progress=False)  # fmt: skip
    assert run.test_acc is None and run.summary["metric"] == "loss"
    assert run.summary["test_loss"] < 0.5 * float(y.var())
    report = _export(tmp_path / "run", tmp_path)
    assert report["bit_exact"] and report["run_check"]["accuracy"]["firmware_test_acc"] is None


@pytest.mark.hls
def test_own_loop_prepare_finalize_save_run(digits, tmp_path):
    x, y, xt, yt = digits
    qmodel = csq_hw.prepare(TwoPartMLP(), input_shape=(64,), budget="size=u3", epochs=4, ticket_epoch=2)
    opt = qmodel.optimizer("adam", lr=0.01)
    fixed = (x[:256], y[:256])
    for epoch in range(4):
        if qmodel.start_epoch(epoch, batch=fixed):
            assert epoch == 2
            opt = qmodel.optimizer("adam", lr=0.02)
        for xb, yb in zip(x.split(64), y.split(64), strict=True):
            loss = F.cross_entropy(qmodel(xb), yb) + qmodel.budget_loss()
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert qmodel.cost() <= qmodel.budget.value
    state = qmodel.state_dict()
    assert int(state["schedule_epoch"]) == 3  # the schedule travels with the weights
    qmodel.eval()  # eval() is the hard forward: what the exact model computes (float32 vs float64 rounding)
    with torch.no_grad():
        hard = qmodel(xt)
        exact = csq_hw.finalize(qmodel)(xt.double())
    assert torch.equal(hard.argmax(1), exact.argmax(1))
    assert float((hard.double() - exact).abs().max()) < 1e-3
    summary = csq_hw.save_run(tmp_path / "run", qmodel, (xt, yt))
    assert math.isclose(summary["test_acc"], float((exact.argmax(1) == yt).double().mean()))
    report = _export(tmp_path / "run", tmp_path)
    assert report["bit_exact"]


def test_reloaded_state_gives_the_same_outputs(digits):
    x, y, xt, _ = digits
    q1 = csq_hw.prepare(TwoPartMLP(), input_shape=(64,), budget="size=u4", epochs=6)  # ticket 2
    q1.start_epoch(1)  # temperature 200^(1/2) = 14.1, not the initial 1
    q2 = csq_hw.prepare(TwoPartMLP(), input_shape=(64,), budget="size=u4", epochs=6)
    q2.load_state_dict(q1.state_dict())
    q1.train()
    q2.train()
    fresh = csq_hw.prepare(TwoPartMLP(), input_shape=(64,), budget="size=u4", epochs=6)
    fresh.load_state_dict({**q1.state_dict(), "schedule_epoch": torch.tensor(0)})
    fresh.train()
    with torch.no_grad():
        assert torch.equal(q1(xt), q2(xt))  # same temperature and phase, restored from state_dict
        assert not torch.equal(q1(xt), fresh(xt))  # ... and the schedule matters: epoch 0's temperature differs


def test_file_builder_on_the_cli_then_cost_and_export(tmp_path, capsys):
    builder = tmp_path / "my_net.py"
    builder.write_text(
        "from torch import nn\n"
        "def build(input_shape, n_classes, hidden=24):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1] * input_shape[-2], hidden), nn.ReLU(),\n"
        "                         nn.Linear(hidden, n_classes))\n"
    )
    out = tmp_path / "run"
    code = main(["train", "--model", f"{builder}:build", "--dataset", "digits", "--budget", "size=u3", "--epochs",
                 "2", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    prec = json.loads((out / "precisions.json").read_text())
    assert prec["model"]["architecture"] == "architecture.json" and prec["model"]["kwargs"]["input_shape"] == [1, 8, 8]
    builder.unlink()  # the run keeps its traced architecture: pricing and export need no builder file
    assert main(["cost", "--run", str(out)]) == 0
    if pytest.importorskip("hls4ml"):
        assert main(["export", str(out), "--out", str(tmp_path / "prj")]) == 0


def test_a_builder_with_postponed_annotations_saves_its_architecture(tmp_path, capsys):
    """Under ``from __future__ import annotations`` a forward's annotations are strings, which a pickled fx graph
    cannot hold: the run used to train to the end and fail on architecture.pt with a traceback."""
    builder = tmp_path / "annotated.py"
    builder.write_text(
        "from __future__ import annotations\n"
        "import torch\n"
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, n_in: int, n_classes: int) -> None:\n"
        "        super().__init__()\n"
        "        self.fc1, self.fc2 = nn.Linear(n_in, 16), nn.Linear(16, n_classes)\n"
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
        "        return self.fc2(torch.relu(self.fc1(x.flatten(1))))\n"
        "def build(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:\n"
        "    return Net(input_shape[-1] * input_shape[-2], n_classes)\n"
    )
    out = tmp_path / "run"
    code = main(["train", "--model", f"{builder}:build", "--dataset", "digits", "--budget", "size=u4", "--epochs",
                 "1", "--pretrain-epochs", "0", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    builder.unlink()
    assert main(["cost", "--run", str(out)]) == 0  # rebuilt from architecture.json alone


def test_specs_take_their_size_from_the_data(tmp_path, capsys):
    assert spec_shape("mlp", (1, 49, 10)) == (490,)
    assert spec_shape("cnn1d", (40,)) == (1, 40)
    assert spec_shape("cnn2d", (49, 10)) == (1, 49, 10)
    m = build_from_spec("cnn2d:4,8", input_shape=(1, 49, 10), n_classes=12)
    assert m(torch.zeros(2, 1, 49, 10)).shape == (2, 12)  # 49x10 -> 24x5 -> 12x2: 8 * 12 * 2 = 192 features
    assert m[-1].in_features == 8 * 12 * 2
    # a keyword-spotting-shaped npz, (N, 1, 49, 10) MFCC frames, 12 classes
    rng = np.random.default_rng(0)
    xk = rng.normal(size=(96, 1, 49, 10)).astype(np.float32)
    yk = np.arange(96) % 12
    np.savez(tmp_path / "kws.npz", x_train=xk, y_train=yk, x_test=xk[:24], y_test=yk[:24])
    for spec in ("mlp:32", "cnn2d:4"):
        out = tmp_path / spec.replace(":", "-")
        code = main(["train", "--model", spec, "--dataset", f"npz:{tmp_path / 'kws.npz'}", "--budget", "size=u4",
                     "--epochs", "1", "--out", str(out), "--no-progress"])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        assert main(["cost", "--run", str(out)]) == 0


@pytest.mark.parametrize(
    "spec, words",
    [("mlp:0", "positive sizes"), ("mlp:a,b", "positive sizes"), ("nope.py:build", "not found"),
     ("os.path:build", "not a function"), ("x y:z", "neither a zoo name")],
)  # fmt: skip
def test_bad_specs_fail_before_the_data_loads(tmp_path, capsys, spec, words, monkeypatch):
    import csq_hw.train.run_inputs as ri

    monkeypatch.setattr(ri, "load_dataset", lambda *a, **k: pytest.fail("the data loaded before the spec check"))
    if "build" in spec and "nope" not in spec:
        monkeypatch.setattr(ri, "load_dataset", lambda *a, **k: load_dataset("digits"))  # a module spec imports late
    code = main(["train", "--model", spec, "--dataset", "digits", "--budget", "size=u3", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_unsupported_layer_is_named_before_training(digits, tmp_path):
    x, y, xt, yt = digits
    net = nn.Sequential(nn.Linear(64, 16), nn.GELU(), nn.Linear(16, 10))
    with pytest.raises(UserError, match=r"module '1' \(GELU\) is not supported; supported: Linear"):
        csq_hw.fit(net, (x, y), (xt, yt), budget="size=u3", epochs=1, out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_budget_typo_fails_before_the_warm_start(tmp_path, capsys, monkeypatch):
    import csq_hw.train.train_run as run_mod

    monkeypatch.setattr(run_mod, "pretrain_float", lambda *a, **k: pytest.fail("warm start ran before the check"))
    code = main(["train", "--model", "digits-mlp", "--dataset", "digits", "--budget", "sise=u3", "--pretrain-epochs",
                 "2", "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 2 and "unknown cost kind 'sise'" in capsys.readouterr().err
    code = main(["train", "--model", "digits-mlp", "--dataset", "digits", "--budget", "size=5", "--pretrain-epochs",
                 "2", "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 2 and "below the cheapest" in capsys.readouterr().err


def test_fit_refuses_iterable_data(tmp_path):
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield torch.zeros(64), 0

    with pytest.raises(UserError, match="map-style Dataset"):
        csq_hw.fit(TwoPartMLP(), Stream(), Stream(), budget="size=u3", epochs=1, out=tmp_path / "r",
                   input_shape=(64,), progress=False)  # fmt: skip
