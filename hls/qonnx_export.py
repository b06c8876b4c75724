"""QONNX export of the exact model, checked bit for bit with qonnx's own executor (extra ``csq-hw[qonnx]``).

Data flow: exact model + ``precisions.json`` -> :func:`hls.qonnx_graph.build_qonnx_graph` (Quant nodes with the
exact widths and power-of-two scales, MatMul/Add, Conv, Relu, MaxPool, AveragePool, Mul+Add for frozen BatchNorm,
residual Add, Flatten) -> written atomically to a staging name next to ``out_path`` -> loaded back from disk,
``qonnx.util.cleanup.cleanup_model`` (what a consumer runs first) with the batch set to the chunk size ->
``qonnx.core.onnx_exec.execute_onnx`` on ``x_check`` in chunks -> compared with the independent integer reference
(:func:`hls.reference.reference_forward`) as :mod:`hls.check` compares the C simulation: a sample mismatches when
any output differs; ``max_lsb_diff`` is in units of the output LSB ``2^-f``. Only a file whose check passed is
moved to ``out_path``; one that fails lands in ``<stem>.failed.onnx`` and ``out_path`` stays as it was.

Shapes and units: the file takes float32 ``(1, *input_shape)`` (batch 1, torch's layout: NCHW, NCL or NF) and returns
the float32 logits ``(1, n_classes)``, each value ``codes * 2^-f`` exactly. ``x_check`` is ``(N, *input_shape)``
(or named sets of such arrays, e.g. :func:`hls.check.check_inputs`); both sides see it rounded to float32, the
file's input type. qonnx and onnx are imported only when an export or check runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import Precisions
from csq_hw.runtime.atomic_io import atomic_write

from .check import compare, merge
from .qonnx_graph import FLOAT32_CODES, build_qonnx_graph
from .reference import reference_forward

__all__ = ["QonnxResult", "export_qonnx", "export_qonnx_run", "check_qonnx", "require_qonnx"]

_INSTALL = "pip install 'csq-hw[qonnx]'"
CHUNK = 256  # samples per executor call: qonnx keeps every intermediate tensor of a call in memory


@dataclass
class QonnxResult:
    """One QONNX export's check: the file, the sample counts and the float32 exactness bound.

    ``sets`` holds the :func:`hls.check.compare` result of each named input set; ``max_codes`` is the largest bound on
    any tensor's integer codes over all inputs (float32 is exact below 2^24), at tensor ``max_codes_at``.
    """

    path: Path
    samples: int
    mismatches: int
    max_lsb_diff: float | str
    output_lsb: float
    max_codes: int
    max_codes_at: str
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when qonnx's execution equals the integer reference on every checked sample (and there were some)."""
        return self.samples > 0 and self.mismatches == 0

    @property
    def float32_exact(self) -> bool:
        """True when float32 carries every value exactly for every input, not only the checked ones."""
        return self.max_codes < FLOAT32_CODES

    @property
    def verdict(self) -> str:
        """One line, e.g. ``bit-exact: 0 mismatches / 556 samples (QONNX execution vs integer reference, ...)``."""
        word = "bit-exact" if self.passed else "NOT bit-exact"
        bits = int(self.max_codes).bit_length()
        exact = (f"float32-exact for every input (codes below 2^{bits})" if self.float32_exact else
                 f"float32 exact only where checked: {self.max_codes_at} may reach 2^{bits} codes > 2^24")  # fmt: skip
        return (f"{word}: {self.mismatches} mismatches / {self.samples} samples (QONNX execution vs integer "
                f"reference, max {self.max_lsb_diff} LSB; {exact}); {self.path}")  # fmt: skip


def require_qonnx() -> None:
    """:class:`UserError` with the install line when qonnx (or onnx) is missing."""
    try:
        import onnx  # noqa: F401
        import qonnx  # noqa: F401
    except ImportError:
        raise UserError(f"the QONNX export needs qonnx; {_INSTALL}") from None


def _sets(x_check: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    sets = dict(x_check) if isinstance(x_check, Mapping) else {"inputs": x_check}
    out = {k: np.asarray(v, dtype=np.float32) for k, v in sets.items()}
    if not sum(len(v) for v in out.values()):
        raise UserError("no inputs to check the QONNX model on; give at least one sample")
    return out


def _check_exportable(prec: Precisions) -> None:
    if prec.weight_step != "pow2":
        raise UserError(f"weight_step is {prec.weight_step!r}; only 'pow2' weights (int * 2^e) export to QONNX with "
                        "power-of-two scales; retrain with weight_step = 'pow2'")  # fmt: skip
    if prec.full_precision:
        raise UserError(f"layers {', '.join(prec.full_precision)} are kept in full precision (float) and have no "
                        "exact QONNX form; quantize them too (for resnet20: [model] kwargs = { quantize_shortcuts = "
                        "true } in config.toml) and retrain")  # fmt: skip


def _executor(path: Path, batch: int) -> tuple[Any, str, str]:
    """The file at ``path`` loaded by qonnx, cleaned up, with batch size ``batch``: (model, input, output name)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    mw = cleanup_model(ModelWrapper(str(path)), override_inpsize=batch)
    return mw, mw.graph.input[0].name, mw.graph.output[0].name


def _execute(path: Path, x: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """qonnx's execution of the file at ``path`` on ``x`` (N, *input_shape) float32: (N, *output_shape) float64."""
    from qonnx.core.onnx_exec import execute_onnx

    size = min(chunk, len(x))
    mw, name_in, name_out = _executor(path, size)
    outs = []
    for start in range(0, len(x), size):
        part = x[start : start + size]
        pad = np.zeros((size - len(part), *x.shape[1:]), dtype=np.float32)  # the last chunk, padded to the batch
        y = execute_onnx(mw, {name_in: np.concatenate([part, pad])})[name_out]
        outs.append(np.asarray(y, dtype=np.float64)[: len(part)])
    return np.concatenate(outs)


def check_qonnx(
    path: str | Path,
    model: nn.Module,
    precisions: Precisions | dict[str, Any],
    x_check: np.ndarray | Mapping[str, np.ndarray],
    max_codes: tuple[int, str] | None = None,
) -> QonnxResult:
    """Run the QONNX file at ``path`` with qonnx's executor on ``x_check`` and compare with the integer reference.

    Args:
        path: a QONNX file (:func:`export_qonnx` wrote it, or anyone else: it is judged by its outputs only).
        model, precisions: the exact model and its ``precisions.json``; the reference evaluates them.
        x_check: inputs (N, *input_shape), or named sets of them; rounded to float32 (the file's input type).
        max_codes: the float32 exactness bound (codes, tensor) to report; default: computed from model and precisions.
    """
    require_qonnx()
    path = Path(path)
    sets = _sets(x_check)
    if max_codes is None:
        g = build_qonnx_graph(model, precisions)
        max_codes = (g.max_codes, g.max_codes_at)
    x_all = np.concatenate(list(sets.values()))
    t0 = time.perf_counter()
    ref = reference_forward(model, precisions, x_all.astype(np.float64))
    t1 = time.perf_counter()
    try:
        y = _execute(path, x_all)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnx/qonnx/onnxruntime raise many types for a file they cannot run
        first = " ".join(str(exc).split())[:200]
        raise UserError(f"qonnx cannot execute {path} ({type(exc).__name__}: {first}); the file is damaged or not "
                        "this model's; export it again") from None  # fmt: skip
    t2 = time.perf_counter()
    parts, start = {}, 0
    for key, x in sets.items():
        ref_part = replace(ref, codes=ref.codes[start : start + len(x)])
        try:
            parts[key] = compare(ref_part, y[start : start + len(x)].reshape(len(x), -1))
        except ValueError as exc:  # another output shape: not this model's file
            raise UserError(f"{path}: {exc}; the file is not this model's; export it again") from None
        start += len(x)
    total = merge(parts)
    seconds = {"reference": round(t1 - t0, 3), "qonnx_execute": round(t2 - t1, 3)}
    return QonnxResult(path, total["samples"], total["mismatches"], total["max_lsb_diff"], 2.0**-ref.f,
                       int(max_codes[0]), max_codes[1], parts, seconds)  # fmt: skip


def export_qonnx(
    model: nn.Module,
    precisions: Precisions | dict[str, Any],
    out_path: str | Path,
    x_check: np.ndarray | Mapping[str, np.ndarray],
) -> QonnxResult:
    """Write the exact model as a QONNX file and check it bit for bit with qonnx's executor.

    Args:
        model: the exact model (``csq_hw.quant.exact``) with the run's state loaded; e.g. ``hls.run_files.load_run``.
        precisions: its ``precisions.json`` dict (or :class:`Precisions`).
        out_path: the ``.onnx`` file; replaced only by a file that passed its check (a failing one is kept as
            ``<stem>.failed.onnx`` next to it, and ``result.path`` says where).
        x_check: inputs (N, *input_shape) or named sets (``hls.check.check_inputs(x_test, k, i)``: the test set,
            x2, x4 and out-of-range random values, so that saturation and rounding ties are exercised).

    Returns:
        The :class:`QonnxResult` (``.passed``, ``.verdict``, per-set results in ``.sets``).

    Raises:
        UserError: qonnx missing, a layer with no exact QONNX form (named, with the fix), no inputs.

    Example:
        >>> run = hls.run_files.load_run("runs/digits")  # doctest: +SKIP
        >>> first = run.precisions["layers"][0]["input"]  # doctest: +SKIP
        >>> sets = check_inputs(run.test_inputs(), first["k"], first["i"])  # doctest: +SKIP
        >>> res = export_qonnx(run.model, run.precisions, "digits.onnx", sets)  # doctest: +SKIP
        >>> print(res.verdict)  # doctest: +SKIP
    """
    require_qonnx()
    prec = Precisions.of(precisions)
    _check_exportable(prec)
    sets = _sets(x_check)
    out_path = Path(out_path)
    model = model.eval()
    t0 = time.perf_counter()
    graph = build_qonnx_graph(model, prec)
    data = graph.proto.SerializeToString()
    stage = out_path.with_name(f".{out_path.name}.checking")
    atomic_write(stage, lambda f: f.write(data))
    t_build = time.perf_counter() - t0
    try:
        res = check_qonnx(stage, model, precisions, sets, (graph.max_codes, graph.max_codes_at))
    except BaseException:
        stage.unlink(missing_ok=True)
        raise
    where = out_path if res.passed else out_path.with_name(f"{out_path.stem}.failed{out_path.suffix or '.onnx'}")
    os.replace(stage, where)  # same directory: atomic
    res.path = where
    res.seconds = {"build_write": round(t_build, 3), **res.seconds}
    return res


def export_qonnx_run(
    run_dir: str | Path,
    out_path: str | Path,
    max_samples: int | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
) -> QonnxResult:
    """:func:`export_qonnx` for a run directory: its exact model, checked on its test set (``max_samples``: the
    first N), the test set x2 and x4 and out-of-range inputs (``hls.check.check_inputs``)."""
    from .check import check_inputs
    from .run_files import load_run

    out_path = Path(out_path)
    if out_path.suffix.lower() != ".onnx" or out_path.is_dir():
        raise UserError(f"--out {out_path}: the QONNX export writes one file; give a path ending in .onnx")
    if max_samples is not None and (isinstance(max_samples, bool) or int(max_samples) != max_samples
                                    or max_samples < 1):  # fmt: skip
        raise UserError(f"--max-samples {max_samples!r}; give a positive number of test samples (or leave it out)")
    require_qonnx()
    run = load_run(run_dir, dataset, data_dir)
    x = run.test_inputs()
    x = x[:max_samples] if max_samples else x
    first = Precisions.of(run.precisions).layers[0].input
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return export_qonnx(run.model, run.precisions, out_path, check_inputs(x, first.k, first.i))
