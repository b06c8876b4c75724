"""The suite's task registry: data generator x model spec x loss x budgets, one frozen :class:`Task` per task.

``model`` is the value given to ``csq-hw train --model`` (a spec such as ``cnn2d:8,16``, the zoo name ``jet-mlp``,
or an absolute ``PATH.py:build`` of a builder under ``models/``). Budgets are ``bops=uN`` (the BOPs of the same
model at uniform N-bit weights and activations), always with ``--act-bits search``; the QAT baseline at the same
cost is uniform N-bit weights and activations.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from datacache import load_or_generate

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
DATA_SEED = 0  # every training seed sees the same generated data set
KINDS = ("image", "signal", "tabular", "regression", "autoencoder")


def builder(file: str, func: str = "build") -> str:
    """``/abs/path/models/FILE:FUNC``, a ``--model`` value for one of the suite's builder files."""
    return f"{MODELS / file}:{func}"


@dataclass(frozen=True)
class Task:
    """One task: ``generator`` is a module name in this directory (``gen_kws``); ``loss`` is "ce" or "mse"."""

    name: str
    kind: str
    generator: str
    model: str
    loss: str = "ce"
    budgets: tuple[str, ...] = ("bops=u3", "bops=u4")

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.loss not in ("ce", "mse"):
            raise ValueError(f"task {self.name}: bad kind {self.kind!r} or loss {self.loss!r}")

    @property
    def budget_bits(self) -> tuple[int, ...]:
        """The N of each ``bops=uN`` budget (the QAT baseline's weight and activation bits)."""
        return tuple(int(b.split("=u", 1)[1]) for b in self.budgets)


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("kws", "signal", "gen_kws", builder("kws_cnn.py")),
        Task("kws-spec", "signal", "gen_kws", "cnn2d:8,16"),
        Task("shapes-cnn", "image", "gen_shapes", "cnn2d:8,16"),
        Task("shapes-res", "image", "gen_shapes", builder("res_cnn.py")),
        Task("signals", "signal", "gen_signals", "cnn1d:16,32"),
        Task("tabular", "tabular", "gen_tabular", "mlp:64,32"),
        Task("toyjets", "tabular", "gen_toyjets", "jet-mlp"),
        Task("regression", "regression", "gen_regression", builder("regressor.py"), loss="mse"),
        Task("autoencoder", "autoencoder", "gen_autoencoder", builder("autoencoder.py"), loss="mse"),
    )
}


def dataset_path(task: Task, seed: int = DATA_SEED, data_dir: str | None = None, verbose: bool = False) -> Path:
    """The cached ``.npz`` of ``task``'s data set (generated now if missing)."""
    mod = importlib.import_module(task.generator)
    return load_or_generate(mod.NAME, mod.VERSION, mod.generate, seed, data_dir, verbose=verbose)
