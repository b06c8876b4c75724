"""The FPGA LUT model against da4ml's adder-graph cost on a small fresh corpus (needs da4ml; numba JIT on first use).

Run with ``pytest -m da4ml``; skipped when da4ml is not importable. The full calibration and its numbers come from
``python benchmarks/cost_calibration.py`` (stored in ``cost_models/data/fpga_lut_coefficients.json``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cost_models.calibration import da4ml_cost, make_corpus, spearman
from cost_models.fpga import FpgaCost, load_coefficients


@pytest.mark.da4ml
def test_lut_model_ranks_like_da4ml():
    pytest.importorskip("da4ml")
    corpus = make_corpus(16, seed=12345, max_width=16)  # a corpus the coefficients were not fitted on
    truth = np.array([da4ml_cost(m) for m in corpus])
    lut = FpgaCost("lut", strategy="da")
    with torch.no_grad():
        per_weight = np.array([float(lut(m.geometry, m.bits)) for m in corpus])
        widths = np.array([float(lut(m.geometry, m.without_values())) for m in corpus])
    assert spearman(per_weight, truth) >= 0.9
    assert spearman(widths, truth) >= 0.9
    # the per-weight model is also close in value: median relative error under 25 %
    assert np.median(np.abs(per_weight - truth) / truth) < 0.25


def test_stored_coefficients_have_provenance():
    data = load_coefficients()
    assert data["da4ml_version"].startswith("0.5") and data["corpus"]["seed"] == 2024
    assert data["metrics"]["mixed_corpus"]["fpga_weights"]["spearman_heldout"] >= 0.9
