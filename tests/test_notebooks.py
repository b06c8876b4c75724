"""The notebooks: committed without outputs, and each one runs top to bottom in CI mode.

Execution uses nbclient with the ``python3`` kernel, ``CSQ_HW_NOTEBOOK_MODE=ci`` (small settings) and
``CSQ_HW_NOTEBOOK_OUT`` pointing at a temporary directory, so nothing is written into the checkout.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = [
    "01_quickstart.ipynb", "02_pareto.ipynb", "03_cost_models.ipynb", "04_firmware.ipynb", "05_user_model.ipynb",
]  # fmt: skip
CELL_TIMEOUT_S = 600  # per cell; CI-mode notebooks take about a minute each on 2 cores

nbformat = pytest.importorskip("nbformat")


def test_all_notebooks_present():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_documents_mode(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    assert "CSQ_HW_NOTEBOOK_MODE" in text and "CSQ_HW_NOTEBOOK_OUT" in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_ci_mode(path, tmp_path, monkeypatch):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from nbclient import NotebookClient

    monkeypatch.setenv("CSQ_HW_NOTEBOOK_MODE", "ci")
    monkeypatch.setenv("CSQ_HW_NOTEBOOK_OUT", str(tmp_path / "out"))
    # the kernel inherits this environment; keep its data cache in the test's cache directory too (conftest)
    assert os.environ["CSQ_HW_CACHE"]
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # a reader should see no warnings: tqdm's IProgress note (ipywidgets missing), a DeprecationWarning, a UserWarning
    stderr = [
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("name") == "stderr"
    ]
    warned = [line for text in stderr for line in text.splitlines() if re.search(r"\b\w*Warning\b", line)]
    assert not warned, warned
    if path.stem in ("01_quickstart", "04_firmware") and importlib.util.find_spec("hls4ml") is not None:
        text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        assert "bit-exact: 0 mismatches" in text
