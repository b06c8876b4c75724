"""Is the exported pair the trained run? The checks beyond "firmware == precisions.json + exact_model.pt".

1. ``exact_model.pt`` carries a copy of the ``precisions.json`` it was written with: the two must be equal (a
   hand-edited activation format or another run's precisions.json is named by its first differing field).
2. ``summary.json`` (written last by ``csq-hw train``) records the SHA-256 of both files: they must match.
3. The firmware's accuracy on the run's test split must equal ``summary.json``'s ``test_acc`` (the exact model
   is evaluated there in float64, whose outputs the C simulation reproduces bit for bit, so the argmax agrees).

Runs written before these records existed (or assembled by hand, e.g. in tests) have none of them; the report
says which checks ran (``run_check``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from csq_hw.errors import UserError
from csq_hw.handoff.run_summary import read_summary as read_run_summary
from csq_hw.runtime.atomic_io import sha256_file

__all__ = ["first_difference", "check_pair", "read_summary", "check_digests", "check_accuracy"]

PAIR = ("precisions.json", "exact_model.pt")


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The path of the first field where two JSON-like values differ (``layers[0].input.f``), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{where}.{key}" if where else str(key)
            if key not in a or key not in b:
                return sub
            found = first_difference(a[key], b[key], sub)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where} (length {len(a)} vs {len(b)})"
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{where}[{j}]")
            if found:
                return found
        return None
    return None if a == b else (where or "the top level")


def check_pair(run_dir: Path, precisions: dict[str, Any], blob: dict[str, Any]) -> bool:
    """Check 1; True when the copy was there to compare, False when the file predates it."""
    copy = blob.get("precisions")
    if copy is None:
        return False
    where = first_difference(copy, precisions)
    if where is not None:
        raise UserError(
            f"{run_dir}/precisions.json differs from the precisions exact_model.pt was written with (first at "
            f"{where}): the file was edited or comes from another run; restore the run's own precisions.json"
        )
    return True


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """``summary.json`` (:func:`csq_hw.handoff.run_summary.read_summary`), None when absent."""
    return read_run_summary(run_dir, required=False)


def check_digests(run_dir: Path, summary: dict[str, Any] | None) -> bool:
    """Check 2; True when the digests were recorded (and matched), False when there is no record."""
    files = (summary or {}).get("files")
    if not isinstance(files, dict):
        return False
    for name in PAIR:
        if name in files and sha256_file(run_dir / name) != files[name]:
            raise UserError(
                f"{run_dir}/{name} changed after training (its SHA-256 differs from the one summary.json records): "
                f"it was edited or replaced; restore the run's own {name} or re-run `csq-hw train`"
            )
    return True


def check_accuracy(y_out: np.ndarray, labels: np.ndarray, summary: dict[str, Any] | None, what: str) -> dict:
    """Check 3: ``y_out`` (N, n_classes) of the firmware on the full test split vs ``summary['test_acc']``.

    Returns ``{"firmware_test_acc", "run_test_acc"}``; raises :class:`UserError` when they differ by more than half a
    sample (1 / 2N: summary.json stores a float).
    """
    want = None if summary is None else summary.get("test_acc")
    if labels.dtype.kind not in "iu":  # regression targets: no accuracy to compare
        return {"firmware_test_acc": None, "run_test_acc": want}
    acc = float(np.mean(np.argmax(y_out.reshape(len(labels), -1), axis=1) == labels))
    if isinstance(want, (int, float)) and abs(acc - float(want)) > 0.5 / len(labels):
        raise UserError(
            f"the firmware's test accuracy {acc:.4f} differs from summary.json test_acc {float(want):.4f} ({what}): "
            "precisions.json, exact_model.pt and summary.json are not from the same run; re-run `csq-hw train`"
        )
    return {"firmware_test_acc": acc, "run_test_acc": want}
