"""Progress for people, on stderr: a tqdm bar or one plain line per item, and timed step lines for one-off jobs.

Two log formats (``--log-format``):

* ``bar`` (default): a tqdm bar over epochs (sweep: points) with the latest numbers as its postfix, and inside an
  epoch of many steps a nested per-step bar that disappears when the epoch ends;
* ``plain``: no bars and no carriage returns, one line per finished epoch (point), for batch logs.

:class:`StepLog` prints what a long job such as the export is doing, one line per step with the seconds since it
started.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO, TypeVar

from csq_hw.errors import UserError

__all__ = [
    "LOG_FORMATS",
    "STEP_BAR_MIN_STEPS",
    "check_log_format",
    "LoopProgress",
    "epoch_fields",
    "step_bar",
    "StepLog",
]

LOG_FORMATS = ("bar", "plain")
STEP_BAR_MIN_STEPS = 50  # an epoch of at least this many steps shows a per-step bar at once ...
STEP_BAR_DELAY_S = 10.0  # ... a shorter one only once it has taken this long (seconds)
T = TypeVar("T")


def check_log_format(log_format: str) -> str:
    """``log_format`` itself when it is one of :data:`LOG_FORMATS`, else a :class:`UserError`."""
    if log_format not in LOG_FORMATS:
        raise UserError(f"log format {log_format!r}; use one of: {', '.join(LOG_FORMATS)}")
    return log_format


class LoopProgress:
    """The report of an outer loop of ``total`` items (epochs, sweep points), ``initial`` of them done before.

    Call :meth:`update` once per finished item with its numbers (``{name: text}``): a tqdm bar shows them as its
    postfix (``bar``); ``plain`` prints ``<desc> <unit> <i>/<total>: name value, ...`` as one line. Nothing at all
    when ``enabled`` is false.
    """

    def __init__(
        self,
        total: int,
        initial: int = 0,
        *,
        desc: str,
        unit: str,
        log_format: str = "bar",
        enabled: bool = True,
        file: TextIO | None = None,
    ) -> None:
        self.total, self.done, self.desc, self.unit = total, initial, desc, unit
        self.log_format = check_log_format(log_format)
        self.enabled = enabled
        self._file = file
        self._bar = None
        if enabled and self.log_format == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=file)

    @property
    def plain(self) -> bool:
        """The ``plain`` format: one line per item."""
        return self.log_format == "plain"

    @property
    def step_bars(self) -> bool:
        """Whether the items may show nested per-step bars (``bar`` format, enabled)."""
        return self._bar is not None

    def update(self, fields: Mapping[str, str], label: str | None = None) -> None:
        """One item finished; ``label``: what the plain line names it by (default its number, ``i/total``)."""
        self.done += 1
        if self._bar is not None:
            self._bar.set_postfix(dict(fields), refresh=False)
            self._bar.update(1)
        elif self.enabled:
            numbers = ", ".join(f"{k} {v}" for k, v in fields.items())
            name = label if label is not None else f"{self.done}/{self.total}"
            print(f"{self.desc}: {self.unit} {name}: {numbers}", file=self._file or sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def epoch_fields(row: Mapping[str, Any], plain: bool = False) -> dict[str, str]:
    """The numbers of one metrics row (``train_run``'s ``metrics.csv``) as they are shown per epoch.

    ``acc`` is the test accuracy (``test_loss`` for a run with another loss); ``bits``: parameter-weighted average
    weight bits; ``cost/budget``: the hard model's cost over the budget (``cost`` and ``budget`` in the budget
    cost's unit). ``plain`` adds the phase, the cost and budget values and the epoch's seconds.
    """
    acc = row.get("test_acc")
    score = {"acc": _percent(acc)} if acc is not None and not math.isnan(acc) else {}
    if not score and row.get("test_loss") is not None:
        score = {"test_loss": f"{row['test_loss']:.4g}"}
    fields = {"phase": str(row["phase"])} if plain else {}
    fields |= {"T": f"{row['temperature']:.4g}", "loss": f"{row['train_loss']:.4f}", **score,
               "bits": f"{row['avg_weight_bits']:.2f}", "cost/budget": f"{row['cost_over_budget']:.3f}"}  # fmt: skip
    if plain:
        fields["cost"] = f"{row['cost']:,.6g} of {row['budget']:,.6g}"
        fields["time"] = f"{row['seconds']:.1f} s"
    return fields


def step_bar(steps: Iterable[T], total_steps: int, enabled: bool, desc: str) -> Iterable[T]:
    """``steps`` (one epoch's batches) through a nested per-step bar (``leave=False``: gone when the epoch ends),
    or ``steps`` itself when not ``enabled``.

    The bar shows at once for an epoch of at least :data:`STEP_BAR_MIN_STEPS` steps, and for a shorter one only if it
    is still running after :data:`STEP_BAR_DELAY_S` seconds (tqdm's ``delay``).
    """
    if not enabled or total_steps < 2:
        return steps
    from tqdm.auto import tqdm

    delay = 0.0 if total_steps >= STEP_BAR_MIN_STEPS else STEP_BAR_DELAY_S
    return tqdm(steps, total=total_steps, desc=desc, unit="step", leave=False, delay=delay)


class StepLog:
    """``<name> [  12.3 s] <what it does now>`` lines on stderr (``file``), seconds since the log was made.

    Silent when ``enabled`` is false; call it with one sentence per step.
    """

    def __init__(self, name: str, enabled: bool = True, file: TextIO | None = None) -> None:
        self.name, self.enabled, self._file = name, enabled, file
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.enabled:
            seconds = time.perf_counter() - self.t0
            print(f"{self.name} [{seconds:6.1f} s] {message}", file=self._file or sys.stderr, flush=True)
