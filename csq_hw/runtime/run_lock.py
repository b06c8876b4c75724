"""A lock on a directory that one process writes (a run directory, an export target).

``<dir>/.csq-hw.lock`` holds the owner's pid and host while it runs (removed on release). The lock itself is an
exclusive ``fcntl.flock`` on that file, which the kernel drops when the holder exits in any way (SIGKILL included),
so a dead holder's lock is taken over without any stale-pid guessing; a live holder gets a one-line error naming
its pid. Where ``fcntl`` is missing
(Windows) the pid in the file decides: a live pid holds the lock, a dead one is taken over.

Example:
    >>> with DirectoryLock(Path("runs/x"), "train"):  # doctest: +SKIP
    ...     ...  # write the run
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from csq_hw.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DirectoryLock", "LOCK_NAME", "lock_holder"]

LOCK_NAME = ".csq-hw.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def lock_holder(directory: Path, name: str = LOCK_NAME) -> dict | None:
    """What the lock file ``directory/name`` says (``{"pid", "host", "command", "since"}``), or None."""
    try:
        return json.loads((Path(directory) / name).read_text() or "null")
    except (OSError, ValueError):
        return None


class DirectoryLock:
    """Hold ``<directory>/.csq-hw.lock`` for ``command`` (e.g. ``"train"``) while the ``with`` block runs.

    Raises:
        UserError: another live process holds the lock (its pid, host and command named).
    """

    def __init__(self, directory: str | Path, command: str, name: str = LOCK_NAME) -> None:
        self.directory, self.command, self.name = Path(directory), command, name
        self.path = self.directory / name
        self._fd: int | None = None
        self._created = False
        self.subject = str(self.directory)  # what the error message calls the locked thing

    def _refuse(self) -> UserError:
        who = None
        for _ in range(40):  # the holder writes its pid just after it takes the lock: wait up to ~1 s for it
            who = lock_holder(self.directory, self.name)
            if who:
                break
            time.sleep(0.025)
        who = who or {}
        return UserError(
            f"{self.subject} is in use by `csq-hw {who.get('command', '?')}` (pid {who.get('pid', '?')} on "
            f"{who.get('host', '?')}); wait for it to finish or choose another directory"
        )

    def acquire(self) -> DirectoryLock:
        if self.directory.exists() and not self.directory.is_dir():
            raise UserError(f"{self.directory} is a file, not a directory; choose another --out")
        self._created = not self.directory.exists()
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise self._refuse() from None
                try:  # the holder unlinks the file on release: make sure ours is still the one at the path
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
            else:  # pragma: no cover - Windows: the pid decides
                who = lock_holder(self.directory, self.name)
                if who and who.get("pid") != os.getpid() and _alive(int(who.get("pid", 0))):
                    os.close(fd)
                    raise self._refuse()
            break
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file (still holding the lock, so no one can be between open and flock on it) and drop
        the lock; a directory this lock created and nothing else wrote into is removed too."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
            if self._created and not any(self.directory.iterdir()):
                self.directory.rmdir()  # a directory made for a run that wrote nothing is not left behind
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
