"""``summary.json``, the run's record, read once for every reader (export, ``csq-hw cost --run``, ``load_run``,
the sweep table): a dict whose scores and costs are numbers, or a one-line error naming the field.

The file is plain JSON, so reading it runs nothing; what a reader must not meet is a field of the wrong type (a
``test_acc`` that is a string used to end in ``ValueError: Unknown format code 'f'`` in ``csq-hw export``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from csq_hw.errors import UserError

__all__ = ["SUMMARY_NAME", "read_summary"]

SUMMARY_NAME = "summary.json"
#: fields that are a number (or null: e.g. ``test_acc`` of a run trained with another loss) when present
NUMBER_FIELDS = ("test_acc", "test_loss", "soft_test_acc", "hard_model_test_acc", "final_cost", "cost_over_budget",
                 "train_seconds")  # fmt: skip
#: fields that are an object when present
OBJECT_FIELDS = ("budget", "files", "costs", "cost_agreement", "avg_weight_bits", "recipe")
LIST_FIELDS = ("budgets", "layers", "guard", "warnings", "repairs")


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and
                             (math.isfinite(value) or math.isnan(value)))  # fmt: skip


def read_summary(run_dir: str | Path, required: bool = True) -> dict[str, Any] | None:
    """``run_dir/summary.json`` as a dict whose :data:`NUMBER_FIELDS` are numbers (or null), :data:`OBJECT_FIELDS`
    objects and :data:`LIST_FIELDS` lists. Absent file: a one-line error when ``required``, else None.

    Raises:
        UserError: absent (``required``), unreadable, not an object, or a field of the wrong type.
    """
    path = Path(run_dir) / SUMMARY_NAME
    if not path.is_file():
        if not required:
            return None
        raise UserError(f"{Path(run_dir)} has no {SUMMARY_NAME}: not a finished csq-hw run; train it (or resume it) "
                        "first")  # fmt: skip
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is unreadable ({type(exc).__name__}); restore it or re-run `csq-hw train`") from None
    if not isinstance(summary, dict):
        raise UserError(f"{path} holds a JSON {type(summary).__name__}, not an object; restore it")
    for fields, ok, kind in ((NUMBER_FIELDS, _is_number, "a number"),
                             (OBJECT_FIELDS, lambda v: isinstance(v, dict), "an object"),
                             (LIST_FIELDS, lambda v: isinstance(v, list), "a list")):  # fmt: skip
        for name in fields:
            if name in summary and not ok(summary[name]):
                raise UserError(f"{path}: {name} is {json.dumps(summary[name])[:40]}, not {kind}: the file was edited "
                                "or damaged; restore it or re-run `csq-hw train`")  # fmt: skip
    return summary
