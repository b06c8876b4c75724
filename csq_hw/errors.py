"""User-facing errors: one line that names the problem and the fix; the CLI exits with code 2."""

from __future__ import annotations

__all__ = ["UserError", "CsqWarning", "TrainingDiverged"]


class UserError(Exception):
    """Bad input from the user (unknown name, malformed file, infeasible budget, ...).

    The message is one line that names the problem and says how to fix it.
    """


class CsqWarning(UserWarning):
    """Something finished but looks wrong (a diverging loss, accuracy at chance, huge feature ranges).

    Raised through :func:`warnings.warn`, so library users can filter or escalate it; the CLI prints each as one line
    ``csq-hw: warning: ...`` on stderr. A run also lists its warnings in ``summary.json`` (``warnings``).
    """


class TrainingDiverged(UserError):
    """The loss became NaN or infinite at ``epoch``/``step``; the caller knows whether a checkpoint exists."""

    def __init__(self, message: str, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch, self.step = epoch, step
