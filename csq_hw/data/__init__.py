"""Data sets for csq-hw: one :class:`Dataset` container and a registry of loaders.

``load_dataset(spec)`` accepts (see :data:`DATASETS`):

- ``digits``: sklearn's embedded 8x8 digits, x (N, 1, 8, 8), 1347/450 (the offline default);
- ``mnist1d``: procedural MNIST-1D, x (N, 1, 40), 4000/1000, cached as ``.npz``;
- ``jets``: hls4ml LHC jets (OpenML 42468 or a local file), x (N, 16), 5 classes g, q, w, z, t;
- ``cifar10``: CIFAR-10 from a local copy of the python batches, x (N, 3, 32, 32);
- ``imagenet``: an ImageFolder directory (``DIR/train/<class>/*``, ``DIR/val/<class>/*``), streamed and decoded
  per batch (:class:`~csq_hw.data.image_folder.ImageFolderDataset`), x (N, 3, S, S) with S from the model;
- ``npz:PATH``: a user ``.npz`` with x_train, y_train, x_test, y_test.

Environment: ``CSQ_HW_CACHE`` (cache dir, default ``~/.cache/csq-hw``), ``CSQ_HW_JETS_FILE``, ``CSQ_HW_CIFAR10_DIR``,
``CSQ_HW_LOADER_WORKERS`` (image decoding processes per training process, default 4).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

from csq_hw.errors import UserError

from .cache import default_cache_dir, resolve_cache_dir
from .cifar10 import load_cifar10_dataset
from .dataset import Dataset
from .digits import load_digits_dataset
from .image_folder import ImageFolderDataset
from .jets import JETS_CLASSES, load_jets_dataset
from .mnist1d import load_mnist1d_dataset
from .npz import NPZ_SCHEMA, load_npz_dataset
from .source import LoaderSource, SampleSource, TensorSource, sequential_plan

__all__ = [
    "DATASETS",
    "JETS_CLASSES",
    "NPZ_SCHEMA",
    "Dataset",
    "ImageFolderDataset",
    "LoaderSource",
    "SampleSource",
    "TensorSource",
    "default_cache_dir",
    "load_dataset",
    "sequential_plan",
]

_Loader = Callable[[Path, Path | None], Dataset | ImageFolderDataset]


def _loader_workers() -> int:
    raw = os.environ.get("CSQ_HW_LOADER_WORKERS", "4")
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise UserError(f"CSQ_HW_LOADER_WORKERS={raw!r} is not a count; set it to 0 (decode in the trainer) or more")
    return value


_LOADERS: dict[str, _Loader] = {
    "digits": lambda cache_dir, data_dir: load_digits_dataset(),
    "mnist1d": lambda cache_dir, data_dir: load_mnist1d_dataset(cache_dir),
    "jets": load_jets_dataset,
    "cifar10": lambda cache_dir, data_dir: load_cifar10_dataset(data_dir),
    "imagenet": lambda cache_dir, data_dir: ImageFolderDataset.open(data_dir, workers=_loader_workers()),
}

#: Data set specs for CLI help; ``npz:PATH`` stands for any user ``.npz`` file.
DATASETS: list[str] = [*_LOADERS, "npz:PATH"]


def load_dataset(
    spec: str,
    cache_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> Dataset | ImageFolderDataset:
    """Load the data set named by ``spec`` (one of :data:`DATASETS`; ``npz:PATH`` for a user file).

    ``cache_dir`` defaults to env ``CSQ_HW_CACHE`` or ``~/.cache/csq-hw``; ``data_dir`` is where local copies live
    (jets file, CIFAR-10 batches, ImageNet folder). Returns a validated :class:`Dataset` with x float32
    (N, *sample_shape) and y int64 (N,), or for ``imagenet`` an indexed :class:`ImageFolderDataset` (files, not
    arrays). Raises a one-line :class:`~csq_hw.errors.UserError` for unknown specs and unavailable or malformed data.
    """
    spec = spec.strip()
    if spec[:4].lower() == "npz:":
        path = spec[4:].strip()
        if not path:
            raise UserError(f"data set spec 'npz:' has no path; write npz:/path/to/data.npz ({NPZ_SCHEMA})")
        return load_npz_dataset(path)
    key = spec.lower()
    loader = _LOADERS.get(key)
    if loader is None:
        close = difflib.get_close_matches(key, list(_LOADERS), n=1, cutoff=0.6)
        hint = f"; for a file write npz:{spec}" if key.endswith(".npz") else ""
        guess = f"did you mean {close[0]!r}? " if close and not hint else ""
        raise UserError(f"unknown data set '{spec}'; {guess}known: {', '.join(DATASETS)}{hint}")
    data = Path(data_dir).expanduser() if data_dir is not None else None
    return loader(resolve_cache_dir(cache_dir), data)
