"""``export``: a run directory -> a compiled, bit-exact-checked hls4ml project (+ optional synthesis).

Steps: load and validate the run (:mod:`hls.run_files`: schema, consistency, the pair and its digests against the run,
:mod:`hls.run_check`), evaluate the independent integer reference on the check's inputs and compare PyTorch with it,
build the hls-side model and hls4ml configuration, convert, refuse silently replaced reuse factors, write + compile
the C simulation, compare it with the reference and its test accuracy with the run's, write ``csq_report.json``, and
(``build=True``) run the vendor flow, which needs the vendor tool on PATH.

All of it happens in a staging directory next to the target (:mod:`hls.staging`); only a project whose check
passed is moved into place, so no failed, interrupted or killed export leaves a report that says bit-exact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from cost_models import LayerGeometry, trace_geometry
from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import Precisions
from csq_hw.runtime.progress import StepLog

from .build import BuildSteps, build_project
from .check import reference_outputs, write_report
from .config import CSIM_COMPILERS, ExportOptions
from .costs import cost_estimates
from .export_report import cost_agreement_of, project_files
from .hls4ml_config import hls4ml_config, layer_settings
from .layer_overrides import resolve_overrides
from .planned_types import planned_types
from .reuse import check_effective, check_reuse_factors
from .run_check import check_accuracy
from .run_files import load_run
from .staging import StagedProject
from .testbench import DEFAULT_TB_SAMPLES, write_vectors

__all__ = ["ExportResult", "export", "export_model", "build_project", "BuildSteps"]


@dataclass
class ExportResult:
    """What one export produced. ``passed`` is the bit-exact verdict; ``report`` is ``csq_report.json``."""

    out_dir: Path
    report: dict[str, Any]
    hls_model: Any = field(repr=False, default=None)

    @property
    def passed(self) -> bool:
        """True when PyTorch and the C simulation both equal the reference on every checked sample."""
        return bool(self.report["bit_exact"])

    @property
    def verdict(self) -> str:
        """One line for the user, e.g. ``bit-exact: 0 mismatches / 1706 samples (C simulation vs reference)``."""
        c = self.report["csim"]
        word = "bit-exact" if self.passed else "NOT bit-exact"
        return (
            f"{word}: {c['mismatches']} mismatches / {c['samples']} samples (C simulation vs integer reference, "
            f"max {c['max_lsb_diff']} LSB; PyTorch: {self.report['torch']['mismatches']} mismatches)"
        )


def _geometry(model: nn.Module, precisions: dict[str, Any], shape: tuple[int, ...]) -> list[LayerGeometry]:
    names = {la.name for la in Precisions.of(precisions).layers}
    geo = trace_geometry(model, shape, include=lambda n, m: n.removesuffix(".layer") in names and n.endswith("layer"))
    return [dataclasses.replace(g, name=g.name.removesuffix(".layer")) for g in geo]


_MAC_CLASSES = ("Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D")


def _types(hls_model: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for layer in hls_model.get_layers():
        types = {}
        for key, t in layer.types.items():
            if key in ("table_t", "index_t"):
                continue
            p = t.precision
            types[key.removesuffix("_t")] = p.definition_cpp() if hasattr(p, "definition_cpp") else str(p)
        entry: dict[str, Any] = {"class": layer.class_name, "types": types}
        for attr in ("reuse_factor", "strategy"):
            if layer.get_attr(attr) is not None and layer.class_name in _MAC_CLASSES:
                entry[attr] = layer.get_attr(attr)
        out[layer.name] = entry
    return out


def export_model(
    model: nn.Module,
    precisions: dict[str, Any],
    out_dir: str | Path,
    x_test: np.ndarray,
    options: ExportOptions | None = None,
    build: bool | BuildSteps = False,
    y_test: np.ndarray | None = None,
    summary: dict[str, Any] | None = None,
    run_checks: dict[str, bool] | None = None,
    progress: bool | StepLog = False,
    tb_samples: int = DEFAULT_TB_SAMPLES,
    source: str | None = None,
) -> ExportResult:
    """Export an exact model (see :func:`export`; this entry takes the loaded pieces, e.g. for tests).

    Args:
        model: the exact model (``csq_hw.quant.exact``), with the run's state loaded.
        precisions: its ``precisions.json`` dict.
        out_dir: the project directory (an existing project there is replaced once the new one passed its check;
            a project that fails lands in ``<out_dir>.failed`` and ``out_dir`` stays as it was).
        x_test: test inputs (N, *input_shape); the check adds x2, x4 and out-of-range random inputs.
        options: backend, io type, strategy, reuse factor, part, clock, project name, per-layer overrides.
        build: run the vendor flow after the check (``True``: HLS synthesis; a :class:`BuildSteps` for more).
        y_test: labels (N,) of ``x_test`` when it is the run's whole test split: the firmware's accuracy on it
            must equal ``summary['test_acc']``.
        summary: the run's ``summary.json`` (None: no accuracy to compare with).
        run_checks: which pair checks :func:`hls.run_files.load_run` could make (recorded in the report).
        progress: print each step (convert, write, compile, C-simulation check) on stderr with the seconds since
            the export started; a :class:`csq_hw.runtime.progress.StepLog` to continue one.
        tb_samples: test vectors written to ``tb_data/`` for the vendor testbench (the first test samples).
        source: where the exact model comes from (recorded in ``hls4ml_config.yml`` instead of the pickled model).
    """
    step = progress if isinstance(progress, StepLog) else StepLog("export", enabled=bool(progress))
    options = options or ExportOptions()
    typed = Precisions.of(precisions)
    options.check_model({la.op for la in typed.layers})
    if len(x_test) == 0:
        raise UserError("no test inputs to check the firmware on; give at least one sample")
    if isinstance(tb_samples, bool) or int(tb_samples) != tb_samples or tb_samples < 0:
        raise UserError(f"--tb-samples {tb_samples!r}; give the number of test vectors to write (0 for none)")
    _check_compiler(options)
    with StagedProject(out_dir) as stage:
        result = _export_staged(model, precisions, stage, x_test, options, y_test, summary, run_checks, step,
                                int(tb_samples), source)  # fmt: skip
    step(f"{result.verdict.split(' (')[0]}; project in {result.out_dir}")
    if build and result.passed:
        step(f"running synthesis ({options.backend}; the vendor flow takes minutes to hours)")
        build_project(result, build if isinstance(build, BuildSteps) else BuildSteps())
    return result


def _firmware_layout(x: np.ndarray, options: ExportOptions) -> np.ndarray:
    """The inputs as the firmware takes them: channels-first as in PyTorch (``full``: hls4ml transposes inside), or
    channels-last (``internal``: the model is converted, its inputs are not) for (N, C, L) and (N, C, H, W)."""
    if options.channels_last == "internal" and x.ndim >= 3:
        return np.ascontiguousarray(np.moveaxis(x, 1, -1))
    return x


def _check_compiler(options: ExportOptions) -> None:
    compiler = CSIM_COMPILERS[options.backend]
    if shutil.which(compiler) is not None:
        return
    if options.backend == "oneAPI":
        raise UserError("backend oneAPI compiles the C simulation of the bit-exact check with Intel's icpx (oneAPI "
                        "DPC++/C++ compiler) and cmake, and icpx is not on PATH; install the Intel oneAPI Base "
                        "Toolkit and run 'source /opt/intel/oneapi/setvars.sh', or use --backend Vitis")  # fmt: skip
    raise UserError("export compiles the C simulation with g++, which is not on PATH; install a C++ compiler "
                    "(e.g. apt install g++ or conda install gxx) and export again")  # fmt: skip


def _export_staged(
    model: nn.Module,
    precisions: dict[str, Any],
    stage: StagedProject,
    x_test: np.ndarray,
    options: ExportOptions,
    y_test: np.ndarray | None,
    summary: dict[str, Any] | None,
    run_checks: dict[str, bool] | None,
    step: StepLog,
    tb_samples: int,
    source: str | None,
) -> ExportResult:
    """The export inside ``stage``: reference, hls4ml model, C simulation, the check, the report; the project is
    moved into place only when bit-exact and (with test labels) as accurate as the run."""
    out_dir, typed = stage.path, Precisions.of(precisions)
    shape = typed.model.input_shape
    t0 = time.perf_counter()
    checked = reference_outputs(model, precisions, x_test, step)
    geometry = _geometry(model, precisions, shape)
    t_ref = time.perf_counter() - t0

    from . import hls4ml_handlers as handlers

    hls_module = handlers.to_hls_module(model, shape)
    names = handlers.fx_names(hls_module)
    layer_names = {la.name: names[f"{la.name}.layer"] for la in typed.layers}
    settings = layer_settings(options, list(layer_names.values()),
                              resolve_overrides(options.layer_overrides, layer_names, options.backend))  # fmt: skip
    check_reuse_factors(geometry, {run: settings[hls]["ReuseFactor"] for run, hls in layer_names.items()},
                        options.backend)  # fmt: skip
    x_fw = _firmware_layout(checked.x_all, options)
    n_tb = min(tb_samples, len(x_test))
    tb = write_vectors(out_dir, x_fw[:n_tb], checked.ref.codes[:n_tb] * 2.0**-checked.ref.f) if n_tb else (None, None)
    log = io.StringIO()
    t1 = time.perf_counter()
    step(f"converting to hls4ml ({options.backend}, {options.io_type}, {options.strategy}, reuse factor "
         f"{options.reuse_factor}, {len(layer_names)} layers)")  # fmt: skip
    hls_model = _converted(handlers, hls_module, shape, options, settings, out_dir, tb, source, log)
    rf = check_effective(hls_model, {n: s["ReuseFactor"] for n, s in settings.items()})
    _compile_csim(hls_model, stage, options, log, step)
    t_compile = time.perf_counter() - t1
    step(f"C simulation on {len(checked.x_all):,} inputs, compared bit for bit with the integer reference")
    y_csim = np.asarray(hls_model.predict(x_fw), dtype=np.float64)
    csim, torch_cmp = checked.compare(y_csim), checked.compare(checked.y_torch)
    bit_exact = csim["mismatches"] == 0 and torch_cmp["mismatches"] == 0
    run_check: dict[str, Any] = {**(run_checks or {}), "summary": summary is not None, "accuracy": None}
    refused = None
    if y_test is not None and bit_exact:
        try:
            run_check["accuracy"] = check_accuracy(y_csim[: len(y_test)], np.asarray(y_test), summary, "C simulation")
        except UserError as exc:
            refused = str(exc)
            run_check["error"] = refused
    saved = _save_fml(hls_model, out_dir / f"{options.project_name}.fml", log, stage.target)
    costs = cost_estimates(geometry, precisions, model, shape)
    report: dict[str, Any] = {
        "format": "csq-hw/hls-report",
        "version": 1,
        "bit_exact": bit_exact,
        "run_check": run_check,
        "samples": csim["samples"],
        "mismatches": csim["mismatches"],
        "max_lsb_diff": csim["max_lsb_diff"],
        "output_lsb": 2.0**-checked.ref.f,
        "csim": csim,
        "torch": torch_cmp,
        # the part hls4ml used (its backend default if not given)
        "options": {**options.to_dict(), "part": hls_model.config.get_config_value("Part")},
        "part_requested": options.part,
        "model": typed.model.to_dict(),
        "hls_layer_names": layer_names,
        "layer_settings": settings,
        "reuse_factors": rf,
        "planned_types": planned_types(precisions, geometry),
        "types": _types(hls_model),
        "costs": costs,
        "cost_agreement": cost_agreement_of(summary, costs),
        "files": {**project_files(options.project_name, n_tb), **saved},
        "seconds": {"reference": round(t_ref, 3), "write_compile": round(t_compile, 3)},
    }
    (out_dir / "hls4ml.log").write_text(log.getvalue())
    write_report(out_dir, report)  # last: its presence means the project is complete
    if refused is not None:  # bit-exact to the files, but the files are not the run's
        failed = stage.keep_failed()
        raise UserError(f"{refused}; the project is in {failed}, {stage.target} is as it was")
    where = stage.commit() if bit_exact else stage.keep_failed()
    with contextlib.suppress(AttributeError, KeyError, TypeError):
        hls_model.config.config["OutputDir"] = str(where)  # a later build() runs where the project now is
    return ExportResult(where, report, hls_model)


def _converted(
    handlers: Any, hls_module: nn.Module, shape: tuple[int, ...], options: ExportOptions, settings: dict[str, Any],
    out_dir: Path, tb: tuple, source: str | None, log: io.StringIO,
) -> Any:  # fmt: skip
    """The hls4ml model of ``hls_module`` (conversion output in ``log``), its yml made safe to read back."""
    with contextlib.redirect_stdout(log):
        cfg = hls4ml_config(hls_module, shape, options, settings)
        hls_model = handlers.hls4ml.converters.convert_from_pytorch_model(
            hls_module,
            hls_config=cfg,
            output_dir=str(out_dir),
            project_name=options.project_name,
            input_data_tb=None if tb[0] is None else str(tb[0]),
            output_data_tb=None if tb[1] is None else str(tb[1]),
            backend=options.backend,
            io_type=options.io_type,
            clock_period=options.clock_ns,
            **({"part": options.part} if options.part else {}),
        )
    # the yml is read back with yaml.safe_load (hls4ml's parse_yaml_config, link_existing_project): no pickled model
    written = hls_model.config.config
    written["PytorchModel"] = source or "csq-hw exact model (not saved with the project)"
    if isinstance(written.get("InputShape"), tuple):  # yaml would write a !!python/tuple, which safe_load refuses
        written["InputShape"] = [list(written["InputShape"])]  # the list-of-shapes form hls4ml also reads
    return hls_model


def _compile_csim(hls_model: Any, stage: StagedProject, options: ExportOptions, log: io.StringIO,
                  step: StepLog) -> None:  # fmt: skip
    """Write the project and compile its C simulation; a failure keeps the staged project aside and is one line."""
    try:
        with contextlib.redirect_stdout(log):
            step(f"writing the project (staged next to {stage.target}) and compiling its C simulation with "
                 f"{CSIM_COMPILERS[options.backend]} (5-50 s)")  # fmt: skip
            hls_model.compile()  # write() + g++ of the C simulation
    except Exception as exc:
        (stage.path / "hls4ml.log").write_text(log.getvalue())
        errors = [ln.strip() for ln in log.getvalue().splitlines() if "error:" in ln]
        first = errors[0] if errors else str(exc)
        failed = stage.keep_failed()
        raise UserError(
            f"the C simulation did not compile ({options.backend}, {options.io_type}): {first}; the "
            f"project is in {failed} (full log in {failed / 'hls4ml.log'}); {stage.target} is as it was"
        ) from None


def _save_fml(hls_model: Any, path: Path, log: io.StringIO, final_dir: Path) -> dict[str, Any]:
    """``hls_model.save(path)``, reopened by ``hls4ml.converters.load_saved_model``; a failure is recorded, not raised.

    Saved with ``OutputDir`` = the project's final place (a reopened model compiles there) and without the test
    vectors: hls4ml 1.3.0's ``serialize_model`` looks for ``InputData`` one level too high and leaves the vectors
    out, while ``deserialize_model`` then expects them (they stay in ``tb_data/``). hls4ml 1.3.0 cannot serialize
    a ``FixedPointQuantizer`` left in the graph (its ``mask_kbi`` is a tuple of arrays), as in the ResNets, where
    one quantizer feeds a conv and a shortcut: then there is no ``.fml`` and the report says why.
    """
    config = hls_model.config.config
    saved = {key: config.get(key) for key in ("OutputDir", "InputData", "OutputPredictions")}
    config.update(OutputDir=str(final_dir), InputData=None, OutputPredictions=None)
    try:
        with contextlib.redirect_stdout(log):
            hls_model.save(str(path))
    except Exception as exc:  # noqa: BLE001 - an optional file of the project; the report says why it is missing
        path.unlink(missing_ok=True)
        return {"saved_model": None, "saved_model_error": f"hls4ml save() failed: {type(exc).__name__}: {exc}"}
    finally:
        config.update(saved)
    return {}


def export(
    run_dir: str | Path,
    out_dir: str | Path,
    backend: str = "Vitis",
    io_type: str = "io_parallel",
    strategy: str | None = None,
    reuse_factor: int = 1,
    part: str | None = None,
    clock_ns: float = 5.0,
    build: bool | BuildSteps = False,
    max_samples: int | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
    progress: bool = False,
    project_name: str | None = None,
    channels_last: str = "full",
    layer_overrides: dict[str, dict[str, Any]] | None = None,
    tb_samples: int = DEFAULT_TB_SAMPLES,
) -> ExportResult:
    """Write, compile and bit-exact-check an hls4ml project for a trained run.

    Args:
        run_dir: a run directory (``precisions.json``, ``exact_model.pt``, ``config.toml``).
        out_dir: where to write the hls4ml project; ``csq_report.json`` lands there too.
        backend, io_type, strategy, reuse_factor, part, clock_ns, project_name, channels_last, layer_overrides: see
            :class:`hls.config.ExportOptions` (``layer_overrides``: e.g. from
            :func:`hls.layer_overrides.load_layer_overrides`).
        build: run the vendor flow afterwards (``True``: HLS synthesis; :class:`BuildSteps` for csim, cosim, IP
            export, logic synthesis); needs the vendor tool, without it a clear :class:`UserError`.
        max_samples: check only the first N test samples (default: all; with N the accuracy is not compared).
        dataset, data_dir: check on this data set instead of the one the run's config.toml names.
        progress: print each step on stderr (load and check the run, reference, convert, write, compile, C-simulation
            check with its sample count), each with the seconds since the export started.
        tb_samples: test vectors for the vendor testbench in ``tb_data/`` (default 200; 0: none).

    Returns:
        The :class:`ExportResult` (``.passed``, ``.verdict``, ``.report``).

    Example:
        >>> result = export("runs/digits", "prj/digits")  # doctest: +SKIP
        >>> print(result.verdict)  # doctest: +SKIP
    """
    options = ExportOptions(backend, io_type, strategy, reuse_factor, part, clock_ns,
                            project_name or ExportOptions.project_name, channels_last,
                            layer_overrides or {})  # fmt: skip
    if max_samples is not None and (isinstance(max_samples, bool) or int(max_samples) != max_samples
                                    or max_samples < 1):  # fmt: skip
        raise UserError(f"--max-samples {max_samples!r}; give a positive number of test samples (or leave it out)")
    step = StepLog("export", enabled=progress)
    step(f"loading and checking the run {run_dir} (precisions.json, exact_model.pt, their digests, test data)")
    run = load_run(run_dir, dataset, data_dir)
    summary = run.summary
    if dataset is not None and dataset != _trained_on(run):
        summary = None  # other data: the firmware's accuracy is reported, not compared with the run's
    x, y = run.test_set()
    if max_samples is not None and max_samples < len(x):
        x, y = x[:max_samples], None
    source = str((Path(run_dir) / "exact_model.pt").resolve())
    return export_model(run.model, run.precisions, out_dir, x, options, build=build, y_test=y, summary=summary,
                        run_checks=run.checks, progress=step, tb_samples=tb_samples, source=source)  # fmt: skip


def _trained_on(run: Any) -> str | None:
    """The data set the run's summary.json says it was trained on (None when unknown)."""
    return (run.summary or {}).get("dataset")
