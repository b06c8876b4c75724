"""Small helpers for building one-line :class:`~csq_hw.errors.UserError` messages."""

from __future__ import annotations

__all__ = ["one_line", "describe_exc"]


def one_line(text: str, limit: int = 300) -> str:
    """Collapse all whitespace (newlines included) in ``text`` to single spaces and cut it to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def describe_exc(exc: BaseException, limit: int = 200) -> str:
    """``"TypeName: message"`` of an exception, on one line and at most ``limit`` characters."""
    msg = one_line(str(exc), limit)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
