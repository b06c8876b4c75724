"""Test vectors for hls4ml's vendor testbench: ``tb_data/tb_input_features.dat`` and ``tb_output_predictions.dat``.

hls4ml's ``<project>_test.cpp`` (C simulation and RTL co-simulation in the vendor flow) reads
``tb_data/tb_input_features.dat`` and ``tb_data/tb_output_predictions.dat``: one sample per line, its values
flattened and separated by spaces, read with ``atof`` into ``float``. hls4ml writes these files itself from the
``.npy`` files named by ``input_data_tb``/``output_data_tb`` at conversion (``VivadoWriter.write_test_bench``);
:func:`write_vectors` stages those ``.npy`` files: the first test samples exactly as the C simulation of the
export's check receives them, and the integer reference's outputs for them (the values the firmware must give,
``codes * 2**-f``). Both are exact in ``float``: the inputs are float32 values, the outputs dyadic numbers of fewer
than 24 significant bits. The testbench writes what the firmware computed to ``tb_data/csim_results.log``
(``rtl_cosim_results.log`` in co-simulation), in the same format; :func:`read_vectors` reads any of these files.
"""

from __future__ import annotations

import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np

from csq_hw.errors import UserError

__all__ = [
    "TB_DIR",
    "TB_INPUTS",
    "TB_OUTPUTS",
    "CSIM_LOG",
    "DEFAULT_TB_SAMPLES",
    "write_vectors",
    "read_vectors",
    "run_testbench",
    "printed",
]

TB_DIR = "tb_data"
TB_INPUTS = "tb_input_features.dat"
TB_OUTPUTS = "tb_output_predictions.dat"
CSIM_LOG = "csim_results.log"
DEFAULT_TB_SAMPLES = 200  # C simulation of the vendor testbench runs them all; RTL co-simulation takes longer


def write_vectors(project_dir: Path, x: np.ndarray, y: np.ndarray) -> tuple[Path, Path]:
    """Stage ``x`` (N, ...) inputs and ``y`` (N, ...) expected outputs as ``.npy`` files for hls4ml's writer.

    Returns the two paths, to pass as ``input_data_tb`` and ``output_data_tb`` to the converter.
    """
    if len(x) != len(y) or len(x) == 0:
        raise UserError(f"test vectors need as many outputs as inputs and at least one; got {len(x)} and {len(y)}")
    tb = project_dir / TB_DIR
    tb.mkdir(parents=True, exist_ok=True)
    x_path, y_path = tb / "csq_inputs.npy", tb / "csq_expected_outputs.npy"
    np.save(x_path, np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1))
    np.save(y_path, np.ascontiguousarray(y, dtype=np.float64).reshape(len(y), -1))
    return x_path, y_path


def read_vectors(path: str | Path) -> np.ndarray:
    """A testbench file as the testbench reads it: (N, values) float32, one row per non-empty line.

    Raises :class:`UserError` when the rows differ in length or a value does not parse.
    """
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append([np.float32(float(tok)) for tok in line.split()])
        except ValueError as exc:
            raise UserError(f"{path}, line {n}: {exc}; a testbench line holds numbers separated by spaces") from None
    if len({len(r) for r in rows}) > 1:
        raise UserError(f"{path}: lines hold different numbers of values; one sample per line, all the same length")
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


def printed(values: np.ndarray) -> np.ndarray:
    """``values`` as the testbench prints them, read back as float32: 6 significant digits, as ``std::cout`` shows
    an ``ap_fixed`` (its own decimal conversion rounds a tie away from zero: -0.2578125 prints as -0.257813)."""
    out = []
    for v in np.asarray(values, dtype=np.float64).ravel():
        d = Decimal(float(v))  # exact: a double is a dyadic rational
        digits = d if d == 0 else d.quantize(Decimal(1).scaleb(d.adjusted() - 5), rounding=ROUND_HALF_UP)
        out.append(np.float32(float(digits)))
    return np.asarray(out, dtype=np.float32).reshape(np.shape(values))


def run_testbench(project_dir: str | Path, project_name: str, timeout_s: float = 300.0) -> np.ndarray:
    """Compile hls4ml's vendor testbench (``<project>_test.cpp``, Vivado/Vitis) with g++ and run it, as the vendor
    C simulation would; returns what it wrote to ``tb_data/csim_results.log`` (:func:`read_vectors`).

    A check without the vendor tools that the ``tb_data`` vectors are what the testbench reads: its results equal
    ``tb_output_predictions.dat`` at the 6 digits it prints (:func:`printed`). The executable is built in a
    temporary name in the project and removed afterwards.
    """
    project = Path(project_dir)
    if shutil.which("g++") is None:
        raise UserError("running the testbench needs g++ on PATH; install a C++ compiler")
    exe = project / f".{project_name}_tb"
    cmd = ["g++", "-O1", "-std=c++14", "-Ifirmware/ap_types/", '-DWEIGHTS_DIR="firmware/weights"',
           f"{project_name}_test.cpp", f"firmware/{project_name}.cpp", "-o", str(exe)]  # fmt: skip
    try:
        subprocess.run(cmd, cwd=project, check=True, capture_output=True, text=True, timeout=timeout_s)
        subprocess.run([str(exe)], cwd=project, check=True, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.CalledProcessError as exc:
        first = next((ln for ln in (exc.stderr or "").splitlines() if "error" in ln), exc.stderr or str(exc))
        raise UserError(f"the testbench of {project} failed: {first.strip()}") from None
    finally:
        exe.unlink(missing_ok=True)
    return read_vectors(project / TB_DIR / CSIM_LOG)
