"""Tests for csq_hw.data: built-in data sets, user .npz files (downloaded sets: test_data_downloads.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csq_hw.data import DATASETS, Dataset, default_cache_dir, load_dataset
from csq_hw.data.cache import save_npz_atomic
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


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mnist1d-cache")


def _tiny(n_train: int = 12, n_test: int = 6, shape: tuple[int, ...] = (4,), k: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.normal(size=(n_train, *shape)).astype(np.float32),
        "y_train": np.arange(n_train) % k,
        "x_test": rng.normal(size=(n_test, *shape)).astype(np.float32),
        "y_test": np.arange(n_test) % k,
    }


# ---------------------------------------------------------------- built-in data sets


def test_registry_names() -> None:
    assert DATASETS == ["digits", "mnist1d", "jets", "cifar10", "imagenet", "npz:PATH"]


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("CSQ_HW_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "csq-hw"


def test_digits_shapes_and_determinism() -> None:
    d = load_dataset("digits")
    assert d.name == "digits" and d.n_classes == 10
    assert d.x_train.shape == (1347, 1, 8, 8) and d.x_test.shape == (450, 1, 8, 8)
    assert d.y_train.shape == (1347,) and d.y_test.shape == (450,)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert set(np.unique(d.y_test)) == set(range(10))
    assert "random_state=0" in d.source
    d2 = load_dataset(" Digits ")
    for k in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(d, k), getattr(d2, k))


def test_mnist1d_shapes_cache_and_determinism(mnist1d_cache: Path) -> None:
    d = load_dataset("mnist1d", cache_dir=mnist1d_cache)
    assert d.x_train.shape == (4000, 1, 40) and d.x_test.shape == (1000, 1, 40)
    assert d.y_train.shape == (4000,) and d.y_test.shape == (1000,)
    assert d.x_train.dtype == np.float32 and d.y_test.dtype == np.int64 and d.n_classes == 10
    files = sorted(p.name for p in mnist1d_cache.iterdir())
    assert len(files) == 1 and files[0].startswith("mnist1d-") and files[0].endswith(".npz"), files
    d2 = load_dataset("mnist1d", cache_dir=mnist1d_cache)  # first load generated, this one reads the cache
    for k in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(d, k), getattr(d2, k))
    assert d.source == d2.source


def test_mnist1d_corrupt_cache_is_regenerated(
    mnist1d_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import csq_hw.data.mnist1d as m1d

    good = load_dataset("mnist1d", cache_dir=mnist1d_cache)
    calls: list[int] = []

    def fake_generate() -> dict[str, np.ndarray]:  # the real generator is tested above; keep this test fast
        calls.append(1)
        return {k: getattr(good, k) for k in ("x_train", "y_train", "x_test", "y_test")}

    monkeypatch.setattr(m1d, "generate_mnist1d", fake_generate)
    (cached,) = list(mnist1d_cache.iterdir())
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    (bad_dir / cached.name).write_bytes(b"not a zip file")
    d = load_dataset("mnist1d", cache_dir=bad_dir)
    assert calls == [1] and d.x_train.shape == (4000, 1, 40)
    assert (bad_dir / cached.name).stat().st_size > 1000  # rewritten
    load_dataset("mnist1d", cache_dir=bad_dir)
    assert calls == [1]  # second load hits the repaired cache


def test_atomic_cache_write(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.npz"
    assert save_npz_atomic(target, x=np.arange(3))
    assert save_npz_atomic(target, x=np.arange(4))  # overwrite
    assert [p.name for p in target.parent.iterdir()] == ["a.npz"]  # no temp file left over
    with np.load(target) as z:
        np.testing.assert_array_equal(z["x"], np.arange(4))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.warns(UserWarning, match="cache"):
        assert not save_npz_atomic(blocker / "b.npz", x=np.arange(3))


def test_unknown_spec_lists_known_names() -> None:
    with pytest.raises(UserError) as e:
        load_dataset("imagenet21k")
    _one_line_error(e, "imagenet21k", "digits", "mnist1d", "jets", "cifar10", "imagenet", "npz:PATH")
    with pytest.raises(UserError) as e:
        load_dataset("my.npz")
    _one_line_error(e, "npz:my.npz")
    with pytest.raises(UserError) as e:
        load_dataset("npz:")
    _one_line_error(e, "no path")


# ---------------------------------------------------------------- Dataset and reshaped()


def test_reshaped_for_mlp_and_cnn() -> None:
    d = load_dataset("digits")
    flat = d.reshaped((64,))
    assert flat.x_train.shape == (1347, 64) and flat.x_test.shape == (450, 64)
    assert flat.sample_shape == (64,) and flat.name == "digits" and flat.source == d.source
    np.testing.assert_array_equal(flat.x_train.reshape(-1, 1, 8, 8), d.x_train)
    back = flat.reshaped((1, 8, 8))
    assert back.x_train.shape == (1347, 1, 8, 8)
    np.testing.assert_array_equal(back.x_test, d.x_test)
    assert d.reshaped((1, 8, 8)) is d
    with pytest.raises(UserError) as e:
        d.reshaped((1, 40))
    _one_line_error(e, "digits", "(1, 8, 8)", "(1, 40)", "64", "40")


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"y_train": np.zeros(5, dtype=np.int64)}, ("12 samples", "5 labels")),
        ({"y_test": np.array([0, 1, 2, 3, 0, 1])}, ("outside [0, 3)", "n_classes")),
        ({"y_train": -(np.arange(12) % 3)}, ("outside [0, 3)",)),
        ({"x_train": np.full((12, 4), np.nan, dtype=np.float32)}, ("nan",)),
        ({"x_test": np.zeros((6, 5), dtype=np.float32)}, ("(4,)", "(5,)", "same")),
        ({"y_train": np.linspace(0, 2, 12)}, ("non-integer",)),
        ({"x_train": np.array(["a"] * 12).reshape(12, 1)}, ("dtype",)),
        ({"x_train": np.zeros(12, dtype=np.float32)}, ("shape (12,)",)),
        ({"n_classes": 0}, ("n_classes",)),
        ({"x_test": np.zeros((0, 4), np.float32), "y_test": np.zeros(0, np.int64)}, ("empty",)),
    ],
)
def test_dataset_validation(change: dict[str, object], needles: tuple[str, ...]) -> None:
    kw: dict[str, object] = {**_tiny(), "name": "toy", "n_classes": 3, "source": "test"}
    kw.update(change)
    with pytest.raises(UserError) as e:
        Dataset(**kw)  # type: ignore[arg-type]
    _one_line_error(e, "toy", *needles)


def test_dataset_converts_dtypes() -> None:
    arrays = _tiny()
    arrays["x_train"] = arrays["x_train"].astype(np.float64)
    arrays["y_test"] = arrays["y_test"].astype(np.float32)  # integer-valued floats are accepted
    d = Dataset(**arrays, name="toy", n_classes=3)
    assert d.x_train.dtype == np.float32 and d.y_test.dtype == np.int64
    assert "toy" in repr(d) and "x_train=" not in repr(d)
    with pytest.raises(AttributeError):
        d.name = "other"  # type: ignore[misc]


# ---------------------------------------------------------------- npz:PATH


@pytest.mark.parametrize("shape", [(7,), (2, 9), (3, 4, 4)])
def test_npz_round_trip(tmp_path: Path, shape: tuple[int, ...]) -> None:
    arrays = _tiny(shape=shape, k=4)
    arrays["y_train"][0] = 6  # n_classes = max label + 1 over both splits
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)
    d = load_dataset(f"npz:{path}")
    assert d.n_classes == 7 and d.sample_shape == shape and d.name == "npz:mine" and str(path) in d.source
    for k, v in arrays.items():
        np.testing.assert_array_equal(getattr(d, k), v)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64


def _write_npz(path: Path, **override: object) -> Path:
    arrays: dict[str, object] = dict(_tiny())
    for k, v in override.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ({"y_test": None}, ("missing arrays y_test",)),
        ({"x_train": np.array([["a"]] * 12)}, ("x_train", "dtype")),
        ({"x_test": np.zeros((6, 5), np.float32)}, ("same per-sample shape",)),
        ({"y_train": np.zeros(3, np.int64)}, ("12 samples", "3 labels")),
        ({"x_test": np.full((6, 4), np.nan, np.float32)}, ("x_test", "nan")),
        ({"y_train": np.linspace(0, 1, 12)}, ("y_train", "non-integer")),
        ({"y_train": np.array(["a"] * 12)}, ("y_train", "integer")),
        ({"y_test": -np.ones(6, np.int64)}, ("labels include -1",)),
        ({"y_test": np.zeros((6, 2), np.int64)}, ("y_test", "(N,)")),
        ({"x_train": np.zeros((12, 1, 1, 1, 1), np.float32)}, ("x_train", "(N,C,H,W)")),
    ],
)
def test_npz_bad_inputs(tmp_path: Path, override: dict[str, object], needles: tuple[str, ...]) -> None:
    path = _write_npz(tmp_path / "bad.npz", **override)
    with pytest.raises(UserError) as e:
        load_dataset(f"npz:{path}")
    _one_line_error(e, str(path), *needles)


def test_npz_missing_corrupt_and_pickled_files(tmp_path: Path) -> None:
    with pytest.raises(UserError) as e:
        load_dataset(f"npz:{tmp_path / 'nope.npz'}")
    _one_line_error(e, "nope.npz", "not found")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"garbage\n" * 10)
    with pytest.raises(UserError) as e:
        load_dataset(f"npz:{corrupt}")
    _one_line_error(e, "corrupt.npz", "not a readable")
    pickled = tmp_path / "obj.npz"
    objs = np.empty(12, dtype=object)
    objs[:] = [np.zeros(4)] * 12
    _write_npz(pickled, x_train=objs)
    with pytest.raises(UserError) as e:
        load_dataset(f"npz:{pickled}")
    _one_line_error(e, "obj.npz", "pickle")
