"""FPGA resources (LUT, DSP, FF, BRAM) of hls4ml dense/conv layers: Latency, Resource and DA strategies.

Per layer, with ``inst`` kernel instances (1 for dense; conv: output positions, or ``pfN``), fan-in n, C outputs
per instance, ``b_a`` input bits, ``b_w`` selected weight positions, ``s_w`` their span, ``W_w = s_w + 1`` the
signed weight width, and ``acc = b_a + W_w + ceil(log2 n)`` the accumulator width:

* **products on DSPs** (Latency/Resource): a product uses DSPs when ``W_w >= tau`` (hls4ml's
  ``VivadoDSPEstimator``: weight width < 9 -> 0 DSP; default ``tau = 9``, option ``tauN``), then
  ``ceil(b_a / 27) * ceil(W_w / 18)`` DSP48E2 slices (27 x 18 multipliers, AMD UG579). Strategy ``da``
  (``distributed_arithmetic``, da4ml) never uses DSPs.
* **constant products and adder tree in LUTs** (Latency, DA), coefficients fitted against da4ml on a generated
  corpus (:mod:`cost_models.calibration`, ``benchmarks/cost_calibration.py``; stored in
  ``data/fpga_lut_coefficients.json`` with provenance)::

      LUT = inst * [(1 - dsp) * (c1 * T * b_a + c2 * T * s + c4 * T) + dsp * tree + c3 * C * (b_a + s + log2 n)]

  where, while training (layer widths only), ``T = N_w * b_w`` (terms of the shift-add trees) and ``s = s_w``;
  with exact ``weight_values``, ``T * b_a -> sum_ij csd(w_ij) * b_a``, ``T * s -> sum_ij csd(w_ij) * m_ij``,
  ``T -> sum_ij csd(w_ij)``, ``s -> max m_ij`` (``csd`` = non-zero canonical-signed-digit count, ``m`` = the
  weight's magnitude width; a zero weight costs nothing), with a second coefficient set fitted that way.
  Coefficients are non-negative (NNLS), so the cost is monotone in the bits except at the DSP threshold, where
  the products leave the LUTs; what stays is the adder tree summing the DSP outputs,
  ``tree = C * ((n - 1) * (b_a + W_w) + 2n)`` adder bits (1 LUT per bit; width + 1 per level, derived).
* **Resource strategy, reuse factor RF** (``resource,rfN``): ``N_w * inst / RF`` time-shared multipliers of
  variable weights (``nnet_dense_resource.h``); a LUT multiplier costs ``1.1 * b_a * W_w`` (an 18 x 18 LUT
  multiplier is 365-401 LUT, hls4ml#99) plus the same adder tree; ``BRAM36 = ceil(N_w * W_w / (RF * 36))`` when
  RF > 1 (36-bit ports, hls4ml ``VivadoMultiObjectiveEstimator``), else 0; DSPs as above on ``N_w / RF``.
* **FF** (analytic, not calibrated): one register stage at the input and at the accumulator outputs,
  ``FF = n_inputs * b_a + inst * C * acc`` (hls4ml pipelines each layer; cf. hls4ml#99, 9.8k FF for one layer).

Step functions (the DSP threshold, the ceilings) are relaxed by piecewise-linear interpolation on the integer bit
grid (:mod:`cost_models.interp`): exact at integer bits, with gradients between them. Options follow the name after
a colon: ``lut:resource,rf4``, ``dsp:tau10``, ``lut:da``, ``lut:pf1``.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import torch

from .base import CostError, LayerBits, LayerGeometry, SumOverLayers, parse_options
from .interp import grid_interp1, grid_interp2
from .weight_digits import csd_digits, magnitude_bits

__all__ = ["FpgaCost", "fpga_from_arg", "load_coefficients", "lut_features", "RESOURCES"]

RESOURCES = {"lut": "LUT", "dsp": "DSP", "ff": "FF", "bram": "BRAM36"}
COEFF_FILE = Path(__file__).parent / "data" / "fpga_lut_coefficients.json"
LUT_PER_VAR_MULT_BIT = 1.1  # LUT per bit-product of a variable LUT multiplier (18x18 ~ 365-401 LUT, hls4ml#99)


@lru_cache(maxsize=4)
def load_coefficients(path: str = str(COEFF_FILE)) -> dict:
    """The fitted LUT coefficients ``{"layer": [c1, c2, c3, c4], "weights": [...], ...provenance}``."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CostError(f"FPGA coefficients {path} not found; run benchmarks/cost_calibration.py --write") from None
    for key in ("layer", "weights"):
        if len(data.get(key, [])) != 4 or any(c < 0 for c in data[key]):
            raise CostError(f"FPGA coefficients {path}: {key!r} must be 4 non-negative numbers; rerun the calibration")
    return data


def lut_features(geom: LayerGeometry, bits: LayerBits) -> tuple[torch.Tensor, ...]:
    """The four LUT features ``(T*b_a, T*s, C*(b_a + s + log2 n), T)`` per kernel instance, and the mode used."""
    b_a = bits.act
    log_n = math.log2(max(geom.fan_in, 1))
    c_out = geom.out_channels
    if bits.weight_values is not None:
        v = bits.weight_values
        d = csd_digits(v).double()
        m = magnitude_bits(v).double()
        t = d.sum()
        s_max = m.max() if m.numel() else torch.tensor(0.0, dtype=torch.float64)
        return (t * b_a, (d * m).sum().to(b_a.dtype), c_out * (b_a + s_max + log_n), t.to(b_a.dtype))
    t = geom.n_weights * bits.weight
    s = bits.span.to(b_a.dtype)
    return (t * b_a, t * s, c_out * (b_a + s + log_n), t)


class FpgaCost(SumOverLayers):
    """One FPGA resource (``lut``, ``dsp``, ``ff``, ``bram``) of hls4ml layers; see the module docstring."""

    def __init__(self, resource: str, strategy: str = "latency", rf: int = 1, tau: int = 9, pf: int | None = None,
                 coefficients: dict | None = None, name: str | None = None) -> None:  # fmt: skip
        if resource not in RESOURCES:
            raise CostError(f"unknown FPGA resource {resource!r}; choose one of: {', '.join(RESOURCES)}")
        if strategy not in ("latency", "resource", "da"):
            raise CostError(f"unknown hls4ml strategy {strategy!r}; choose latency, resource or da")
        self.resource, self.strategy, self.rf, self.tau, self.pf = resource, strategy, int(rf), int(tau), pf
        self.coefficients = coefficients
        self.name = name or resource
        self.unit = RESOURCES[resource]

    def _instances(self, geom: LayerGeometry) -> int:
        return 1 if geom.op == "linear" else (self.pf or geom.output_pixels)

    def _dsp_per_product(self, span: torch.Tensor, b_a: torch.Tensor) -> torch.Tensor:
        if self.strategy == "da":
            return torch.zeros_like(span * b_a)
        tau = self.tau

        def f(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
            w = s + 1
            return (w >= tau).to(s.dtype) * torch.ceil(a.clamp(min=0) / 27) * torch.ceil(w / 18)

        return grid_interp2(f, span, b_a)

    def _on_dsp(self, span: torch.Tensor) -> torch.Tensor:
        if self.strategy == "da":
            return torch.zeros_like(span)
        return grid_interp1(lambda s: (s + 1 >= self.tau).to(s.dtype), span)

    def layer_cost(self, geom: LayerGeometry, bits: LayerBits) -> torch.Tensor:
        b_a = bits.act
        span = bits.span.to(b_a.dtype)
        inst = self._instances(geom)
        folded = self.strategy == "resource"
        n_w = geom.n_weights
        if bits.weight_values is not None:
            n_w = int((bits.weight_values != 0).sum())
        n_mult = n_w * inst / (self.rf if folded else 1)
        acc = b_a + span + 1 + math.ceil(math.log2(max(geom.fan_in, 1)))
        if self.resource == "dsp":
            return n_mult * self._dsp_per_product(span, b_a)
        if self.resource == "ff":
            return geom.n_inputs * b_a + inst * geom.out_channels * acc
        if self.resource == "bram":
            if not folded or self.rf <= 1:
                return torch.zeros_like(b_a * span)
            words = geom.n_weights / (self.rf * 36)
            return grid_interp1(lambda s: torch.ceil(words * (s + 1) - 1e-9), span)
        coeffs = self.coefficients or load_coefficients()
        x1, x2, x3, x4 = lut_features(geom, bits)
        c = coeffs["weights" if bits.weight_values is not None else "layer"]
        tree = c[2] * x3
        if folded:
            return n_mult * (1 - self._on_dsp(span)) * LUT_PER_VAR_MULT_BIT * b_a * (span + 1) + inst * tree
        products = c[0] * x1 + c[1] * x2 + c[3] * x4
        on_dsp = self._on_dsp(span)
        return inst * ((1 - on_dsp) * products + on_dsp * self._dsp_adder_tree(geom, b_a, span) + tree)

    @staticmethod
    def _dsp_adder_tree(geom: LayerGeometry, b_a: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
        """LUTs summing DSP products: ``C * ((n - 1) * (b_a + W_w) + 2n)`` adder bits (width +1 per tree level)."""
        n = geom.fan_in
        return geom.out_channels * ((n - 1) * (b_a + span + 1) + 2 * n)


def fpga_from_arg(resource: str, arg: str | None) -> FpgaCost:
    """Factory behind ``lut``, ``dsp``, ``ff``, ``bram`` and their ``:options`` forms."""
    name = resource if not arg else f"{resource}:{arg}"
    opts = parse_options(name, arg, flags=("latency", "resource", "da"), numeric=("rf", "tau", "pf"))
    strategies = [s for s in ("latency", "resource", "da") if opts.get(s)]
    if len(strategies) > 1:
        raise CostError(f"cost model {name!r}: choose one strategy of latency, resource, da")
    strategy = strategies[0] if strategies else ("resource" if opts.get("rf", 1) != 1 else "latency")
    for key in ("rf", "tau", "pf"):
        if key in opts and float(opts[key]) != int(opts[key]):  # type: ignore[arg-type]
            raise CostError(f"cost model {name!r}: {key} must be an integer")
    pf = int(opts["pf"]) if "pf" in opts else None  # type: ignore[arg-type]
    return FpgaCost(resource, strategy, int(opts.get("rf", 1)), int(opts.get("tau", 9)), pf, name=name)  # type: ignore[arg-type]
