"""Atomic file writes: write to a temporary file in the same directory, then ``os.replace``.

A reader (or a killed run) never sees a half-written file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from csq_hw.errors import UserError

__all__ = ["atomic_write", "write_text", "write_json", "torch_save", "sha256_file", "remove_stale_temps"]


# a full disk, a quota, a read-only or forbidden place: the machine's state, not a bug; one line for the user
_ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def _umask() -> int:
    """The process's umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes 0600 files; a result file gets the mode a plain open() would give it (0644 under umask 022),
# or keeps the mode of the file it replaces
_NEW_FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: str | Path, writer: Callable[[IO[bytes]], None]) -> Path:
    """Call ``writer(fileobj)`` on a temp file next to ``path``, fsync, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else _NEW_FILE_MODE)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
            state = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
            raise UserError(f"could not write {path}: {exc.strerror or exc}; {state}; free disk space or fix the "
                            "permissions and run again") from None  # fmt: skip
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def torch_save(path: str | Path, obj: Any) -> Path:
    return atomic_write(path, lambda f: torch.save(obj, f))


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 of a file's bytes (run files record each other's digests: summary.json -> the pair)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Remove the temp files of :func:`atomic_write` (``.<name>.<random>.tmp``) that a killed writer left in
    ``directory``; call it only while holding the directory's lock (no other writer may be mid-write). Returns
    what was removed. A SIGKILL between the temp file's creation and its rename cannot be caught, so the next
    run cleans up; the file under its final name is never half-written."""
    removed = []
    for p in Path(directory).glob(".*.tmp"):
        if p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
