"""On-disk cache for generated/downloaded arrays: default location and atomic ``.npz`` writes."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from csq_hw.errors import UserError
from csq_hw.runtime.atomic_io import atomic_write

__all__ = ["default_cache_dir", "resolve_cache_dir", "save_npz_atomic", "load_cached_npz"]


def default_cache_dir() -> Path:
    """The cache directory: env ``CSQ_HW_CACHE`` if set, else ``~/.cache/csq-hw``."""
    env = os.environ.get("CSQ_HW_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "csq-hw"


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir`` as a :class:`~pathlib.Path`, or :func:`default_cache_dir` when it is None."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> bool:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz``, atomically.

    The data go to a temporary file in the same directory which then replaces ``path`` with :func:`os.replace`
    (:func:`csq_hw.runtime.atomic_io.atomic_write`), so readers never see a half-written file. A cache that cannot be
    written is not fatal: this warns and returns False.
    """
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays))
        return True
    except (OSError, UserError) as exc:  # UserError: atomic_write's one line for a full disk or a forbidden place
        cause = exc.__context__ if isinstance(exc, UserError) and isinstance(exc.__context__, OSError) else exc
        warnings.warn(f"csq-hw: could not write cache file {path} ({cause}); continuing without it", stacklevel=2)
        return False


def load_cached_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays ``keys`` from the cache file ``path``, or None when it is missing, unreadable or incomplete."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if not all(k in z.files for k in keys):
                return None
            return {k: z[k] for k in keys}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
