"""Read a run directory for export: ``precisions.json`` + ``exact_model.pt`` (+ the data set named in config.toml).

Only the hand-off contract (``docs/precisions_v1.md``) is used, never the trainer's internals. Every value is
checked against it here, so hls4ml never sees an off-grid number (it would round it a second time, silently).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import Precisions
from csq_hw.handoff.precisions import PRECISIONS_SCHEMA, PRECISIONS_VERSION, read_precisions
from csq_hw.quant.exact import build_exact_model, load_exact_blob

from .run_check import check_digests, check_pair, read_summary

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Run", "load_run", "load_precisions", "check_grid", "as_int"]

SCHEMA, VERSION = PRECISIONS_SCHEMA, PRECISIONS_VERSION  # the versions this backend reads


@dataclass
class Run:
    """A loaded run: the precisions dict, the exact model (float32, eval mode), where its data lives, its
    ``summary.json`` (None when absent) and which of the run checks (:mod:`hls.run_check`) had records to use."""

    run_dir: Path
    precisions: dict[str, Any]
    model: nn.Module
    input_shape: tuple[int, ...]
    dataset: str | None
    data_dir: str | None
    summary: dict[str, Any] | None = None
    checks: dict[str, bool] | None = None

    def test_set(self, streamed: int = 64) -> tuple[np.ndarray, np.ndarray | None]:
        """The run's test inputs, shape (N, *input_shape), float64, and labels (N,): the whole test split, or the
        first ``streamed`` validation images of a streamed (ImageNet-style) data set (labels None: not the whole
        split, so not comparable with the run's accuracy)."""
        import torch

        from csq_hw.data import ImageFolderDataset, load_dataset, sequential_plan

        saved = self.run_dir / "test_data.npz"
        if not self.dataset or (self.dataset == "user" and saved.is_file()):
            if saved.is_file():  # a run of user data (csq_hw.fit) keeps its test split
                with np.load(saved, allow_pickle=False) as z:
                    return z["x_test"].astype(np.float64), z["y_test"]
            raise UserError(
                f"{self.run_dir} has no config.toml naming its [data] dataset; pass --dataset NAME (the data set "
                "the run was trained on, e.g. digits or npz:PATH) to export"
            )
        data = load_dataset(self.dataset, data_dir=self.data_dir).reshaped(self.input_shape)
        if isinstance(data, ImageFolderDataset):
            plan = sequential_plan(min(streamed, data.n_test), 16)
            x = torch.cat([xb for xb, _ in data.test_source(torch.device("cpu")).batches(plan)])
            return x.numpy().astype(np.float64), None
        return data.x_test.astype(np.float64), data.y_test

    def test_inputs(self, streamed: int = 64) -> np.ndarray:
        """The inputs of :meth:`test_set`."""
        return self.test_set(streamed)[0]


# the exact model is evaluated in float64: every value must stay a dyadic rational float64 holds exactly
_MAX_EXACT_BITS = 52


def load_precisions(path: Path) -> dict[str, Any]:
    """Read ``precisions.json`` (schema and consistency: :func:`csq_hw.handoff.precisions.read_precisions`) and check
    that     it can be exported bit-exactly."""
    prec = read_precisions(path)
    typed = Precisions.of(prec)
    for la in typed.layers:
        q = la.input
        if q.bits > _MAX_EXACT_BITS or abs(q.i) > 64 or abs(q.f) > 64:
            raise UserError(
                f"{path}: layer {la.name} input format ap_fixed<{q.bits}, {q.k + q.i}> is beyond exact "
                f"arithmetic (over {_MAX_EXACT_BITS} bits or a range of 2^{q.i}); the features were badly "
                "scaled: standardize them and retrain"
            )
    if typed.weight_step != "pow2":
        raise UserError(
            f"{path}: weight_step is {typed.weight_step!r}; only 'pow2' weights (int * 2^e) can be exported "
            "bit-exactly; retrain with weight_step = 'pow2'"
        )
    if typed.full_precision:
        raise UserError(
            f"{path}: layers {', '.join(typed.full_precision)} are kept in full precision (float), which firmware "
            "cannot reproduce bit-exactly; quantize them too (train with them as CSQ layers; for resnet20: "
            "[model] kwargs = { quantize_shortcuts = true } in config.toml) to export"
        )
    return prec


def as_int(values: torch.Tensor | np.ndarray, exponent: int, what: str) -> np.ndarray:
    """``values / 2^exponent`` as int64; :class:`UserError` naming ``what`` if any value is off that grid."""
    v = values.detach().double().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values, np.float64)
    scaled = v * 2.0 ** (-exponent)
    ints = np.round(scaled)
    bad = np.flatnonzero(ints.ravel() != scaled.ravel())
    if bad.size:
        j = int(bad[0])
        raise UserError(
            f"{what}: value {v.ravel()[j]!r} is not a multiple of 2^{exponent} ({bad.size} such values); hls4ml would "
            "round it a second time; re-export the run (the exact model must hold on-grid values)"
        )
    return ints.astype(np.int64)


def _check_range(ints: np.ndarray, lo: int, hi: int, what: str) -> None:
    if ints.size and (ints.min() < lo or ints.max() > hi):
        raise UserError(f"{what}: integer values span [{ints.min()}, {ints.max()}], outside the declared [{lo}, {hi}]")


def check_grid(precisions: Precisions | dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    """Every weight, bias and BatchNorm value lies on its declared grid and inside its declared range, and the
    weights' integer range is the declared ``int_min``/``int_max``."""
    prec = Precisions.of(precisions)
    for la in prec.layers:
        name, w = la.name, la.weight
        key = f"{name}.layer.weight"
        if key not in state:
            raise UserError(f"exact model state has no {key!r}; precisions.json and exact_model.pt disagree")
        pos = w.positions
        ints = as_int(state[key], w.grid_exponent, f"{name} weight")
        if not pos:
            _check_range(ints, 0, 0, f"{name} weight (no bit positions selected)")
        else:
            if np.any(ints % (1 << pos[0])):
                raise UserError(f"{name} weight: integers use bits below the lowest selected position {pos[0]}")
            top = sum(1 << b for b in pos)
            _check_range(ints, -top, top, f"{name} weight")
        if ints.size and (int(ints.min()), int(ints.max())) != (w.int_min, w.int_max):
            raise UserError(
                f"{name} weight: exact_model.pt holds integers in [{ints.min()}, {ints.max()}] but precisions.json "
                f"declares int_min/int_max [{w.int_min}, {w.int_max}]; the two files are not from the same run"
            )
        bkey = f"{name}.layer.bias"
        if (la.bias is None) != (bkey not in state):
            raise UserError(f"{name}: precisions.json and exact_model.pt disagree on whether the layer has a bias")
        if la.bias is not None:
            bi = as_int(state[bkey], la.bias.step_exponent, f"{name} bias")
            _check_range(bi, -(2 ** (la.bias.bits - 1)), 2 ** (la.bias.bits - 1) - 1, f"{name} bias")
    for bn in prec.batchnorm:
        for part, exponent in (("scale", bn.scale_step_exponent), ("shift", bn.shift_step_exponent)):
            if f"{bn.name}.{part}" not in state:
                raise UserError(
                    f"exact model state has no {bn.name}.{part!r}; precisions.json and exact_model.pt disagree"
                )
            ints = as_int(state[f"{bn.name}.{part}"], exponent, f"{bn.name} {part}")
            _check_range(ints, -(2 ** (bn.bits - 1)), 2 ** (bn.bits - 1) - 1, f"{bn.name} {part}")


def load_run(run_dir: str | Path, dataset: str | None = None, data_dir: str | None = None) -> Run:
    """Load and validate a run directory (see the module docstring); raises :class:`UserError` on any problem.

    ``dataset``/``data_dir``: the data set to check on, instead of the one ``config.toml`` names.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} does not exist; pass the directory `csq-hw train` wrote")
    prec = load_precisions(run_dir / "precisions.json")
    path = run_dir / "exact_model.pt"
    blob = load_exact_blob(path)
    state = blob["state_dict"]
    summary = read_summary(run_dir)
    checks = {"pair": check_pair(run_dir, prec, blob), "digests": check_digests(run_dir, summary)}
    check_grid(prec, state)
    model = build_exact_model(prec, run_dir)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "state mismatch"
        raise UserError(f"{path} does not fit the model in precisions.json: {first}") from None
    cfg_path = run_dir / "config.toml"
    if dataset is not None:
        pass  # the caller names the data set: config.toml is not read
    elif cfg_path.is_file():
        try:
            data_cfg = tomllib.loads(cfg_path.read_text()).get("data", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise UserError(f"{cfg_path} is unreadable ({type(exc).__name__}); restore it, or pass --dataset NAME "
                            "to name the run's data set") from None  # fmt: skip
        if not isinstance(data_cfg, dict):
            data_cfg = {}
        dataset, data_dir = data_cfg.get("dataset"), data_cfg.get("data_dir")
    shape = Precisions.of(prec).model.input_shape
    return Run(run_dir, prec, model.float().eval(), shape, dataset, data_dir, summary, checks)
