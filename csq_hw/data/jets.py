"""``jets``: hls4ml LHC jet tagging, 16 high-level features, 5 classes (OpenML ``hls4ml_lhc_jets_hlf``, id 42468).

Loaded from OpenML with scikit-learn's loader and cached on disk, or from a local file (``hls4ml_lhc_jets_hlf.npz``
or ``.csv``) named by env ``CSQ_HW_JETS_FILE`` or found in ``data_dir``. Labels map to 0..4 in the fixed order
:data:`JETS_CLASSES` = (g, q, w, z, t): gluon, light quark, W boson, Z boson, top quark. Features are standardised
with the training split's mean/std (StandardScaler); the split is stratified 80/20 with ``random_state=42``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from csq_hw.errors import UserError

from ._text import describe_exc
from .cache import load_cached_npz, save_npz_atomic
from .dataset import Dataset

__all__ = [
    "JETS_CLASSES",
    "JETS_OPENML_ID",
    "JETS_FILE_STEM",
    "JETS_N_FEATURES",
    "JETS_FILE_SCHEMA",
    "load_jets_dataset",
    "jets_labels",
    "split_and_standardise",
]

JETS_CLASSES: tuple[str, ...] = ("g", "q", "w", "z", "t")
JETS_OPENML_ID = 42468
JETS_FILE_STEM = "hls4ml_lhc_jets_hlf"
JETS_N_FEATURES = 16
JETS_FILE_SCHEMA = (
    f"{JETS_FILE_STEM}.npz with x float (N,{JETS_N_FEATURES}) and y labels (N,) as g/q/w/z/t or 0..4, "
    f"or {JETS_FILE_STEM}.csv with {JETS_N_FEATURES} feature columns and a 'class' column"
)
_CACHE_NAME = f"jets-openml-{JETS_OPENML_ID}.npz"


def jets_labels(y: np.ndarray, where: str) -> np.ndarray:
    """Map jet labels (strings g/q/w/z/t, optionally prefixed ``j_``, or integers 0..4) to int64 0..4, shape (N,)."""
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        out = y.astype(np.int64)
    elif y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        out = y.astype(np.int64)
    elif y.dtype.kind in "USO":
        index = {c: i for i, c in enumerate(JETS_CLASSES)}
        names = [(v.decode() if isinstance(v, bytes) else str(v)).strip().lower() for v in y.ravel()]
        names = [n[2:] if n.startswith("j_") else n for n in names]
        unknown = sorted(set(names) - set(index))
        if unknown:
            raise UserError(
                f"{where}: unknown jet classes {unknown[:5]}; labels must be one of {', '.join(JETS_CLASSES)} or 0..4"
            )
        out = np.array([index[n] for n in names], dtype=np.int64)
    else:
        raise UserError(f"{where}: labels have dtype {y.dtype}; store them as g/q/w/z/t strings or integers 0..4")
    if out.ndim != 1:
        raise UserError(f"{where}: labels have shape {y.shape}, expected (N,); store one label per jet")
    if out.size and (out.min() < 0 or out.max() >= len(JETS_CLASSES)):
        raise UserError(f"{where}: integer labels must lie in 0..4 (order {', '.join(JETS_CLASSES)}); relabel them")
    return out


def _check_features(x: np.ndarray, n: int, where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biuf" or x.ndim != 2 or x.shape[1] != JETS_N_FEATURES:
        raise UserError(
            f"{where}: features have shape {x.shape} and dtype {x.dtype}, expected float (N,{JETS_N_FEATURES}); "
            f"expected {JETS_FILE_SCHEMA}"
        )
    if len(x) != n:
        raise UserError(f"{where}: {len(x)} feature rows but {n} labels; give every jet one label")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise UserError(f"{where}: features contain NaN/inf values; drop or impute those jets")
    return x


def _read_local(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features float32 (N, 16) and labels int64 (N,) from a local ``.npz``/``.csv`` jets file."""
    if not path.is_file():
        raise UserError(f"jets file {path} not found; fix CSQ_HW_JETS_FILE or provide {JETS_FILE_SCHEMA}")
    try:
        if path.suffix.lower() == ".csv":
            import pandas as pd

            df = pd.read_csv(path)
            label_col = "class" if "class" in df.columns else df.columns[-1]
            y = df[label_col].to_numpy()
            x = df.drop(columns=[label_col]).to_numpy()
        else:
            with np.load(path, allow_pickle=False) as z:
                xk = next((k for k in ("x", "X") if k in z.files), None)
                if xk is None or "y" not in z.files:
                    raise UserError(
                        f"{path}: needs arrays 'x' and 'y' (found {', '.join(z.files) or 'none'}); "
                        f"expected {JETS_FILE_SCHEMA}"
                    )
                x, y = z[xk], z["y"]
    except UserError:
        raise
    except Exception as exc:  # pandas/numpy parse errors come in many types
        raise UserError(f"{path}: cannot read jets file ({describe_exc(exc)}); expected {JETS_FILE_SCHEMA}") from exc
    y = jets_labels(y, str(path))
    return _check_features(x, len(y), str(path)), y


def _find_local(data_dir: Path | None) -> Path | None:
    """The local jets file: ``data_dir`` (a matching file, or a directory holding one), else env CSQ_HW_JETS_FILE."""
    if data_dir is not None:
        if data_dir.is_file() and data_dir.stem == JETS_FILE_STEM:
            return data_dir
        for ext in (".npz", ".csv"):
            if (data_dir / f"{JETS_FILE_STEM}{ext}").is_file():
                return data_dir / f"{JETS_FILE_STEM}{ext}"
    env = os.environ.get("CSQ_HW_JETS_FILE")
    return Path(env).expanduser() if env else None


def _fetch_openml(cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features float32 (N, 16) and labels int64 (N,) from OpenML 42468, cached as ``cache_dir/jets-openml-42468.npz``.

    scikit-learn keeps its own download cache under ``cache_dir/openml``; the processed arrays are cached as well
    because parsing the ARFF file takes much longer than loading an ``.npz``.
    """
    cached = load_cached_npz(cache_dir / _CACHE_NAME, ("x", "y"))
    if cached is not None:
        return cached["x"].astype(np.float32), cached["y"].astype(np.int64)
    import sklearn.datasets

    try:
        bunch = sklearn.datasets.fetch_openml(
            data_id=JETS_OPENML_ID, data_home=str(cache_dir), as_frame=False, parser="auto"
        )
    except Exception as exc:  # URLError, HTTPError, OSError, OpenMLError, ...: all mean "not available"
        raise UserError(
            f"jets: download of OpenML {JETS_OPENML_ID} ({JETS_FILE_STEM}) failed ({describe_exc(exc, 120)}) and "
            f"nothing is cached in {cache_dir}; supply the data offline: set CSQ_HW_JETS_FILE=/path/to/file or pass "
            f"--data-dir DIR holding {JETS_FILE_SCHEMA}"
        ) from exc
    where = f"OpenML {JETS_OPENML_ID}"
    y = jets_labels(np.asarray(bunch.target), where)
    x = _check_features(np.asarray(bunch.data), len(y), where)
    save_npz_atomic(cache_dir / _CACHE_NAME, x=x, y=y)
    return x, y


def split_and_standardise(x: np.ndarray, y: np.ndarray, source: str) -> Dataset:
    """Stratified 80/20 split (``random_state=42``) of x (N, 16), y (N,), standardised with train mean/std."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    try:
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=42)
    except ValueError as exc:
        raise UserError(
            f"jets ({source}): cannot make a stratified 80/20 split ({describe_exc(exc)}); "
            "provide at least 2 jets of every class and 10 jets in all"
        ) from exc
    scaler = StandardScaler().fit(x_tr)
    return Dataset(
        x_train=scaler.transform(x_tr).astype(np.float32),
        y_train=y_tr,
        x_test=scaler.transform(x_te).astype(np.float32),
        y_test=y_te,
        name="jets",
        n_classes=len(JETS_CLASSES),
        source=f"{source}, stratified 80/20 split random_state=42, StandardScaler on train, classes g,q,w,z,t",
    )


def load_jets_dataset(cache_dir: Path, data_dir: Path | None = None) -> Dataset:
    """hls4ml LHC jets: x float32 (N, 16) standardised, y int64 in 0..4 (g, q, w, z, t).

    A local file (``data_dir`` or env ``CSQ_HW_JETS_FILE``) takes precedence over OpenML 42468. Offline with nothing
    cached, raises a one-line :class:`~csq_hw.errors.UserError` saying how to supply the file.
    """
    local = _find_local(data_dir)
    if local is not None:
        x, y = _read_local(local)
        return split_and_standardise(x, y, f"local file {local}")
    x, y = _fetch_openml(cache_dir)
    return split_and_standardise(x, y, f"OpenML {JETS_OPENML_ID}")
