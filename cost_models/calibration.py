"""A corpus of random mixed-precision MLPs priced by da4ml, for calibrating and validating the FPGA model.

da4ml (``calad0i/da4ml``, LGPL-3.0, imported lazily, never vendored) compiles each constant matrix-vector
product into a CSD adder graph with common-subexpression elimination. With ``adder_size=1, carry_size=-1``
(``HWConfig(1, -1, -1)``) an adder costs its result width in bits, so a layer's cost is the sum of its adder
bit-widths, about its LUT count (da4ml paper, TRETS 2025, arXiv:2507.04535; HGQ docs: "EBOPs ~ upper limit of LUT
(da4ml)"). A model's cost is the sum over its layers (ReLU and requantisation are wires and are not counted).

Corpus: mixed-architecture jet-tagger-like MLPs (2-4 dense layers, widths 4-32) with per-layer weight bits 1-8
(selected positions inside a span up to 2 wider, signed digits in {-1, 0, 1} with a per-layer zero rate, plus
pruned weights) and activation bits 2-10 (signed at the input, unsigned after ReLU). Deterministic from ``seed``.
A second, harder check is an iso-architecture family (``sizes`` fixed), where only the precisions vary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import LayerBits, LayerGeometry

__all__ = ["CorpusModel", "random_mlp", "make_corpus", "da4ml_layer_cost", "da4ml_cost", "spearman"]


@dataclass(frozen=True)
class CorpusModel:
    """One corpus entry: geometry, exact bits (with integer weights) and its integer weight matrices."""

    geometry: list[LayerGeometry]
    bits: dict[str, LayerBits]

    def without_values(self) -> dict[str, LayerBits]:
        """The same bits with ``weight_values`` dropped (what the trainer passes)."""
        return {
            k: LayerBits(b.weight, b.act, b.weight_span, b.bias, b.weight_signed, b.act_signed)
            for k, b in self.bits.items()
        }


def _linear_geometry(name: str, n_in: int, n_out: int) -> LayerGeometry:
    return LayerGeometry(
        name, "linear", (n_in,), (n_out,), (), n_in, n_out, 1, n_in * n_out, n_in * n_out, 0, n_in, n_out
    )


def random_mlp(rng: np.random.Generator, max_width: int = 32, sizes: tuple[int, ...] | None = None) -> CorpusModel:
    """A random mixed-precision MLP (see the module docstring); ``sizes`` fixes the architecture."""
    if sizes is None:
        depth = int(rng.integers(2, 5))
        sizes = (int(rng.integers(8, max_width + 1)),)
        sizes += tuple(int(rng.integers(4, max_width + 1)) for _ in range(depth - 1)) + (int(rng.integers(4, 9)),)
    geometry, bits = [], {}
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    for j, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        name = f"fc{j}"
        b_w = int(rng.integers(1, 9))
        span = b_w + int(rng.integers(0, 3))
        positions = np.sort(rng.choice(span, size=b_w, replace=False))
        positions = positions - positions.min()
        span = int(positions.max()) + 1
        p_zero_digit = float(rng.uniform(0.1, 0.5))
        digits = rng.choice(
            [-1, 0, 1], size=(n_in, n_out, b_w), p=[(1 - p_zero_digit) / 2, p_zero_digit, (1 - p_zero_digit) / 2]
        )
        w = (digits * (2**positions)[None, None, :]).sum(-1)
        w[rng.random((n_in, n_out)) < rng.uniform(0.0, 0.5)] = 0
        b_a = int(rng.integers(2, 11))
        geometry.append(_linear_geometry(name, n_in, n_out))
        # weight_values follow torch's layout [out, in]
        bits[name] = LayerBits(
            weight=t(b_w), act=t(b_a), weight_span=t(span), act_signed=(j == 0), weight_values=torch.tensor(w.T.copy())
        )
    return CorpusModel(geometry, bits)


def make_corpus(n: int, seed: int = 0, max_width: int = 32, sizes: tuple[int, ...] | None = None) -> list[CorpusModel]:
    """``n`` random MLPs, deterministic in ``seed``; with ``sizes``, one architecture at ``n`` random precisions
    (an iso-architecture family: the ranking a bit-width search needs)."""
    rng = np.random.default_rng(seed)
    return [random_mlp(rng, max_width, sizes) for _ in range(n)]


def da4ml_layer_cost(weight_values: torch.Tensor, a_bits: int, a_signed: bool) -> float:
    """da4ml adder-graph cost (sum of adder bit-widths, ~LUT) of ``x @ W.T`` for integer ``W`` [out, in]."""
    from da4ml.cmvm import QInterval, solve

    kernel = weight_values.detach().double().numpy().T.astype(np.float32)  # [in, out]
    if not np.any(kernel):
        return 0.0
    lo, hi = (-(2.0 ** (a_bits - 1)), 2.0 ** (a_bits - 1) - 1) if a_signed else (0.0, 2.0**a_bits - 1)
    q = [QInterval(lo, hi, 1.0)] * kernel.shape[0]
    sol = solve(kernel, qintervals=q, adder_size=1, carry_size=-1, search_all_decompose_dc=False)
    return float(sol.cost)


def da4ml_cost(model: CorpusModel) -> float:
    """Sum of :func:`da4ml_layer_cost` over the model's layers."""
    total = 0.0
    for g in model.geometry:
        b = model.bits[g.name]
        assert b.weight_values is not None
        total += da4ml_layer_cost(b.weight_values, int(b.act), b.act_signed)
    return total


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)
