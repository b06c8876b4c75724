"""The bit-exact check: reference (numpy integers) vs PyTorch vs the compiled C simulation, and its report.

A sample is a mismatch when any of its outputs differs from the reference; ``max_lsb_diff`` is the largest
absolute difference in units of the reference output's LSB (``2^-f``). Zero mismatches is the goal, and the
only verdict that passes. The report lands atomically in ``<project>/csq_report.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from csq_hw.handoff.precision_types import Precisions
from csq_hw.runtime.atomic_io import write_json

from .reference import Fixed, reference_forward

__all__ = ["check_inputs", "compare", "merge", "write_report", "REPORT_NAME", "CheckSet", "reference_outputs"]

REPORT_NAME = "csq_report.json"


def check_inputs(x_test: np.ndarray, k: int, i: int, seed: int = 0, n_random: int = 256) -> dict[str, np.ndarray]:
    """The check's input sets: the test set, the test set x2 and x4, and random values beyond the input range.

    Args:
        x_test: (N, *input_shape) test inputs.
        k, i: the first layer's input quantizer sign bit and integer bits (its range is below 2^i).
        n_random: number of random samples, uniform in +-2^(i+2) (k = 1) or [-2^i, 2^(i+2)] (k = 0).
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(x_test, dtype=np.float64)
    hi = 2.0 ** (i + 2)
    lo = -hi if k else -(2.0**i)
    # random codes on a fine grid (2^-12), so that half-way cases of the input rounding occur too
    rand = np.round(rng.uniform(lo, hi, (n_random, *x.shape[1:])) * 4096) / 4096
    return {"test": x, "test_x2": 2 * x, "test_x4": 4 * x, "random_out_of_range": rand}


def compare(ref: Fixed, other: np.ndarray) -> dict[str, Any]:
    """``{samples, mismatches, max_lsb_diff, first_mismatches}`` of ``other`` against the reference."""
    want = ref.to_float().reshape(len(ref.codes), -1)
    got = np.asarray(other, dtype=np.float64).reshape(len(want), -1)
    if got.shape != want.shape:
        raise ValueError(f"output shape {got.shape} differs from the reference's {want.shape}")
    diff = np.abs(got - want)
    diff = np.where(np.isnan(got), np.inf, diff)
    bad = np.flatnonzero((diff > 0).any(axis=1))
    lsb = float(diff.max() * 2.0**ref.f) if diff.size else 0.0
    return {
        "samples": len(want),
        "mismatches": int(bad.size),
        "max_lsb_diff": lsb if np.isfinite(lsb) else "inf",
        "first_mismatches": [int(j) for j in bad[:5]],
    }


def merge(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Totals over several input sets (``compare`` results), keeping the per-set results under ``sets``."""
    lsbs = [p["max_lsb_diff"] for p in parts.values()]
    return {
        "samples": sum(p["samples"] for p in parts.values()),
        "mismatches": sum(p["mismatches"] for p in parts.values()),
        "max_lsb_diff": "inf" if "inf" in lsbs else max(lsbs, default=0.0),
        "sets": parts,
    }


def write_report(out_dir: str | Path, report: dict[str, Any]) -> Path:
    """Write ``report`` as JSON to ``out_dir/csq_report.json`` atomically (temp file + rename)."""
    return write_json(Path(out_dir) / REPORT_NAME, report)


@dataclass
class CheckSet:
    """The check's inputs and what the firmware must reproduce: the input sets (``{name: (n, ...)}``, from
    :func:`check_inputs`), their concatenation ``x_all`` (N, ...), the integer reference's output ``ref`` and
    PyTorch's ``y_torch`` (N, outputs; float64) on ``x_all``."""

    sets: dict[str, np.ndarray]
    x_all: np.ndarray
    ref: Fixed
    y_torch: np.ndarray

    def compare(self, y: np.ndarray) -> dict[str, Any]:
        """``y`` (outputs on ``x_all``) against the reference: :func:`compare` per input set, then :func:`merge`."""
        offsets = np.cumsum([0] + [len(v) for v in self.sets.values()])
        y = y.reshape(len(self.x_all), -1)
        parts = zip(self.sets, offsets[:-1], offsets[1:], strict=True)
        ref = self.ref
        return merge({k: compare(dataclasses.replace(ref, codes=ref.codes[a:b]), y[a:b]) for k, a, b in parts})


def reference_outputs(
    model: nn.Module, precisions: dict[str, Any], x_test: np.ndarray, step: Callable[[str], None]
) -> CheckSet:
    """The check's inputs for ``x_test`` (N, *input_shape) at the first layer's input format, the integer reference
    (:func:`hls.reference.reference_forward`) and the exact PyTorch ``model`` (float64, eval mode) on them."""
    first = Precisions.of(precisions).layers[0].input
    sets = check_inputs(x_test, first.k, first.i)
    x_all = np.concatenate(list(sets.values()))
    step(f"integer reference and PyTorch on {len(x_all):,} inputs ({len(x_test):,} test samples, scaled and "
         "out-of-range copies)")  # fmt: skip
    ref = reference_forward(model.eval(), precisions, x_all)
    with torch.no_grad():
        y_torch = model.double()(torch.from_numpy(x_all)).numpy()
    model.float()
    return CheckSet(sets, x_all, ref, y_torch)
