"""An export that cannot leave a wrong answer behind: build in a staging directory, move into place after the check.

The project is written, compiled and checked in ``<parent>/.<name>.export-<pid>``, next to the target (same file
system, so the final move is a rename). Only a project whose check passed is moved to the target; the previous
project there (if any) stays untouched until that moment. A project that failed its check or did not compile is
moved to ``<parent>/<name>.failed`` for inspection (its report says so); an interrupted or crashed export removes
its staging directory, and one killed outright leaves only a hidden staging directory, which the next export of the
same target removes. ``<parent>/.<name>.lock`` keeps two exports from writing the same target at once.

Example:
    >>> with StagedProject(Path("prj/digits")) as stage:  # doctest: +SKIP
    ...     write_project(stage.path)
    ...     stage.commit()
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType

from csq_hw.errors import UserError
from csq_hw.runtime.run_lock import DirectoryLock

from .check import REPORT_NAME

__all__ = ["StagedProject", "FAILED_SUFFIX"]

FAILED_SUFFIX = ".failed"
_PROJECT_MARKERS = (REPORT_NAME, "hls4ml_config.yml")


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise UserError(f"--out {target} is a file; give a directory for the hls4ml project")
    if target.is_dir() and any(target.iterdir()) and not any((target / m).exists() for m in _PROJECT_MARKERS):
        raise UserError(
            f"--out {target} is a non-empty directory that is not an hls4ml project (no {REPORT_NAME} or "
            "hls4ml_config.yml), and an export replaces the whole directory; give a new or empty directory"
        )


class StagedProject:
    """Stage an export of ``target``; :meth:`commit` moves it into place, :meth:`keep_failed` beside it."""

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target).resolve()
        parent, name = self.target.parent, self.target.name
        self.path = parent / f".{name}.export-{os.getpid()}"
        self.failed = parent / f"{name}{FAILED_SUFFIX}"
        self._lock = DirectoryLock(parent, "export", name=f".{name}.lock")
        self._lock.subject = f"--out {self.target}"
        self._done = False

    def __enter__(self) -> StagedProject:
        _check_target(self.target)
        self._lock.acquire()
        try:
            for stale in self.target.parent.glob(f".{self.target.name}.export-*"):  # killed exports (we hold the lock)
                shutil.rmtree(stale, ignore_errors=True)
            self.path.mkdir()
        except BaseException:
            self._lock.release()
            raise
        return self

    def _move(self, dest: Path) -> Path:
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(self.path, dest)
        _retarget_config(dest, self.path)
        self._done = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return dest

    def commit(self) -> Path:
        """Move the checked project to the target (replacing the previous project) and return the target."""
        return self._move(self.target)

    def keep_failed(self) -> Path:
        """Move the project that failed its check (or its compile) to ``<target>.failed``; the target is untouched."""
        return self._move(self.failed)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._done:
                shutil.rmtree(self.path, ignore_errors=True)
        finally:
            self._lock.release()


def _retarget_config(project: Path, staged_at: Path) -> None:
    """hls4ml records its output directory in ``hls4ml_config.yml``: point it at where the project now is."""
    cfg = project / "hls4ml_config.yml"
    if cfg.is_file():
        text = cfg.read_text()
        if str(staged_at) in text:
            cfg.write_text(text.replace(str(staged_at), str(project)))
