"""User-facing errors: one line that names the problem and the fix; the CLI exits with code 2."""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """Bad input from the user (unknown name, malformed file, infeasible budget, ...).

    The message is one line that names the problem and says how to fix it.
    """
