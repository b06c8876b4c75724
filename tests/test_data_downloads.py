"""Tests for csq_hw.data's downloaded sets, offline: jets (OpenML, fake fetch, local files) and CIFAR-10 (fixture)."""

from __future__ import annotations

import os
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from csq_hw.data import load_dataset
from csq_hw.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD
from csq_hw.data.jets import JETS_CLASSES, jets_labels
from csq_hw.errors import UserError


def _one_line_error(excinfo: pytest.ExceptionInfo[UserError], *needles: str) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and "\r" not in msg, msg
    for needle in needles:
        assert needle.lower() in msg.lower(), (needle, msg)
    return msg


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSQ_HW_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CSQ_HW_JETS_FILE", raising=False)
    monkeypatch.delenv("CSQ_HW_CIFAR10_DIR", raising=False)


# ---------------------------------------------------------------- jets


def _jets_arrays(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n, n_features=16, n_informative=8, n_classes=5, random_state=0)
    return (x * 3 + 5).astype(np.float32), y


def test_jets_labels_fixed_order() -> None:
    assert JETS_CLASSES == ("g", "q", "w", "z", "t")
    got = jets_labels(np.array(["g", "q", "w", "z", "t", "j_t", "G"]), "x")
    np.testing.assert_array_equal(got, [0, 1, 2, 3, 4, 4, 0])
    np.testing.assert_array_equal(jets_labels(np.array([b"z", b"w"], dtype=object), "x"), [3, 2])
    with pytest.raises(UserError) as e:
        jets_labels(np.array(["g", "b"]), "file.npz")
    _one_line_error(e, "file.npz", "'b'", "g, q, w, z, t")


def test_jets_offline_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sklearn.datasets

    calls: list[dict[str, object]] = []

    def offline(**kwargs: object) -> None:
        calls.append(kwargs)
        raise urllib.error.URLError("[Errno -3] Temporary failure\nin name resolution")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    with pytest.raises(UserError) as e:
        load_dataset("jets", cache_dir=tmp_path / "c", data_dir=tmp_path)
    _one_line_error(e, "download", "42468", "failed", "CSQ_HW_JETS_FILE", "--data-dir", "hls4ml_lhc_jets_hlf.npz")
    assert calls == [{"data_id": 42468, "data_home": str(tmp_path / "c"), "as_frame": False, "parser": "auto"}]


def test_jets_openml_path_with_fake_fetch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sklearn.datasets
    from sklearn.utils import Bunch

    x, y = _jets_arrays()
    names = np.array(["g", "q", "t", "w", "z"], dtype=object)[y]  # OpenML's alphabetical strings
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda **kw: Bunch(data=x.astype(np.float64), target=names))
    d = load_dataset("jets", cache_dir=tmp_path)
    assert d.name == "jets" and d.n_classes == 5 and "OpenML 42468" in d.source
    assert d.x_train.shape == (240, 16) and d.x_test.shape == (60, 16) and d.x_train.dtype == np.float32
    np.testing.assert_allclose(d.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(d.x_train.std(0), 1, atol=1e-3)
    # 't' (alphabetically 2nd index) must map to 4 in the documented g, q, w, z, t order
    assert abs(np.bincount(d.y_train, minlength=5)[4] - np.sum(names == "t") * 0.8) <= 1
    assert (tmp_path / "jets-openml-42468.npz").is_file()

    def offline(**kw: object) -> None:
        raise OSError("offline")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)  # now served from the processed cache
    d2 = load_dataset("jets", cache_dir=tmp_path)
    np.testing.assert_array_equal(d.x_test, d2.x_test)
    np.testing.assert_array_equal(d.y_train, d2.y_train)


def test_jets_from_local_npz_in_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sklearn.datasets

    def forbidden(**kw: object) -> None:
        raise AssertionError("must not download when a local file exists")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", forbidden)
    x, y = _jets_arrays()
    np.savez(tmp_path / "hls4ml_lhc_jets_hlf.npz", x=x, y=y)
    d = load_dataset("jets", data_dir=tmp_path)
    assert d.x_train.shape == (240, 16) and d.x_test.shape == (60, 16)
    assert d.y_train.dtype == np.int64 and set(np.unique(d.y_train)) == set(range(5))
    assert "local file" in d.source and "hls4ml_lhc_jets_hlf.npz" in d.source
    np.testing.assert_allclose(d.x_train.mean(0), 0, atol=1e-5)
    # stratified: class proportions preserved in both splits (to within rounding)
    assert np.abs(np.bincount(d.y_test) * 4 - np.bincount(d.y_train)).max() <= 4
    d2 = load_dataset("jets", data_dir=tmp_path)
    np.testing.assert_array_equal(d.x_train, d2.x_train)


def test_jets_from_env_file_csv_and_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    x, y = _jets_arrays()
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(16)])
    df["class"] = np.array(JETS_CLASSES)[y]
    path = tmp_path / "elsewhere" / "hls4ml_lhc_jets_hlf.csv"
    path.parent.mkdir()
    df.to_csv(path, index=False)
    monkeypatch.setenv("CSQ_HW_JETS_FILE", str(path))
    d = load_dataset("jets")
    ref = load_dataset("jets", data_dir=path.parent)  # data_dir lookup gives the same result
    assert d.x_train.shape == (240, 16)
    np.testing.assert_array_equal(d.y_train, ref.y_train)
    np.testing.assert_allclose(d.x_test, ref.x_test)


def test_jets_bad_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _jets_arrays()
    np.savez(tmp_path / "hls4ml_lhc_jets_hlf.npz", x=x[:, :10], y=y)
    with pytest.raises(UserError) as e:
        load_dataset("jets", data_dir=tmp_path)
    _one_line_error(e, "hls4ml_lhc_jets_hlf.npz", "(300, 10)", "(N,16)")
    monkeypatch.setenv("CSQ_HW_JETS_FILE", str(tmp_path / "missing.npz"))
    with pytest.raises(UserError) as e:
        load_dataset("jets")
    _one_line_error(e, "missing.npz", "not found", "CSQ_HW_JETS_FILE")


@pytest.mark.network
@pytest.mark.skipif(not os.environ.get("CSQ_HW_NETWORK_TESTS"), reason="set CSQ_HW_NETWORK_TESTS=1 to hit OpenML")
def test_jets_real_openml(tmp_path: Path) -> None:
    d = load_dataset("jets", cache_dir=os.environ.get("CSQ_HW_NETWORK_CACHE", tmp_path))
    assert d.n_classes == 5 and d.sample_shape == (16,) and "OpenML 42468" in d.source
    assert d.n_train + d.n_test == 830000 and abs(d.n_test / (d.n_train + d.n_test) - 0.2) < 1e-3


# ---------------------------------------------------------------- cifar10


def _write_cifar(root: Path, n: int = 4) -> dict[str, tuple[np.ndarray, list[int]]]:
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        with (folder / name).open("wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data}, f, protocol=2)
        batches[name] = (data, labels)
    return batches


def test_cifar10_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = _write_cifar(tmp_path)
    d = load_dataset("cifar10", data_dir=tmp_path)
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (4, 3, 32, 32)
    assert d.x_train.dtype == np.float32 and d.n_classes == 10
    data, labels = batches["data_batch_2"]
    np.testing.assert_array_equal(d.y_train[4:8], labels)
    img = data[1].reshape(3, 32, 32)
    for c in range(3):
        want = (img[c] / 255.0 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]
        np.testing.assert_allclose(d.x_train[5, c], want, rtol=1e-5, atol=1e-5)
    monkeypatch.setenv("CSQ_HW_CIFAR10_DIR", str(tmp_path / "cifar-10-batches-py"))
    d2 = load_dataset("cifar10")
    np.testing.assert_array_equal(d.x_test, d2.x_test)


def test_cifar10_missing(tmp_path: Path) -> None:
    with pytest.raises(UserError) as e:
        load_dataset("cifar10")
    _one_line_error(e, "no local copy", "CSQ_HW_CIFAR10_DIR", "--data-dir", "cifar-10-batches-py")
    with pytest.raises(UserError) as e:
        load_dataset("cifar10", data_dir=tmp_path)
    _one_line_error(e, str(tmp_path))
    _write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(UserError) as e:
        load_dataset("cifar10", data_dir=tmp_path)
    _one_line_error(e, "test_batch", "missing")
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"junk")
    with pytest.raises(UserError) as e:
        load_dataset("cifar10", data_dir=tmp_path)
    _one_line_error(e, "test_batch", "not a CIFAR-10 python batch")
