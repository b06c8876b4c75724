"""Calibrate the FPGA LUT model against da4ml's adder-graph cost and compare it with EBOPs.

Usage::

    pip install "da4ml>=0.5.2,<0.6"      # first call JIT-compiles numba (~3-5 min on 2 cores)
    python benchmarks/cost_calibration.py --n 200 --seed 2024 --write

Generates ``--n`` random mixed-precision MLPs (:mod:`cost_models.calibration`), prices every layer with da4ml
(``adder_size=1, carry_size=-1``: cost = sum of adder bit-widths ~ LUT), fits the LUT model's non-negative
coefficients by NNLS on relative error over the layers of the even-numbered models, and reports Spearman rank
correlations of model-level totals on the held-out odd-numbered models and on the whole corpus for:
the FPGA model (layer widths only, as in training; and per-weight, with exact weights) and HGQ2 EBOPs (same two).
``--write`` stores the coefficients with provenance in ``cost_models/data/fpga_lut_coefficients.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cost_models.calibration import da4ml_layer_cost, make_corpus, spearman  # noqa: E402
from cost_models.ebops import EbopsCost  # noqa: E402
from cost_models.fpga import COEFF_FILE, FpgaCost, lut_features  # noqa: E402


def layer_costs(corpus, cache: Path | None) -> list[list[float]]:
    """da4ml cost of every layer of every model (optionally cached in a JSON file)."""
    if cache is not None and cache.is_file():
        costs = json.loads(cache.read_text())
        if len(costs) == len(corpus):
            return costs
    t0 = time.time()
    costs = []
    for i, m in enumerate(corpus):
        costs.append([da4ml_layer_cost(m.bits[g.name].weight_values, int(m.bits[g.name].act),
                                       m.bits[g.name].act_signed) for g in m.geometry])  # fmt: skip
        if i % 25 == 0:
            print(f"  da4ml: {i + 1}/{len(corpus)} models, {time.time() - t0:.0f} s", file=sys.stderr)
    if cache is not None:
        cache.write_text(json.dumps(costs))
    return costs


def fit(corpus, costs, idx, exact: bool) -> list[float]:
    """NNLS fit of the 4 LUT coefficients on relative error over the layers of models ``idx``."""
    from scipy.optimize import nnls

    rows, ys = [], []
    for i in idx:
        m = corpus[i]
        bits = m.bits if exact else m.without_values()
        for g, y in zip(m.geometry, costs[i], strict=True):
            if y <= 0:
                continue
            rows.append([float(f) for f in lut_features(g, bits[g.name])])
            ys.append(y)
    a = np.array(rows) / np.array(ys)[:, None]
    coef, _ = nnls(a, np.ones(len(ys)))
    return [float(c) for c in coef]


def evaluate(corpus, costs, coeffs, heldout=None) -> dict[str, dict[str, float]]:
    """Spearman (held-out models and all) of four proxies against the da4ml model totals."""
    y = np.array([sum(c) for c in costs])
    lut = FpgaCost("lut", strategy="da", coefficients=coeffs)
    ebops = EbopsCost()
    preds: dict[str, list[float]] = {"fpga_layer": [], "fpga_weights": [], "ebops_layer": [], "ebops_weights": []}
    with torch.no_grad():
        for m in corpus:
            plain = m.without_values()
            preds["fpga_layer"].append(float(lut(m.geometry, plain)))
            preds["fpga_weights"].append(float(lut(m.geometry, m.bits)))
            preds["ebops_layer"].append(float(ebops(m.geometry, plain)))
            preds["ebops_weights"].append(float(ebops(m.geometry, m.bits)))
    odd = np.arange(1, len(corpus), 2) if heldout is None else np.asarray(heldout)
    out = {}
    for k, p in preds.items():
        p = np.array(p)
        rel = np.abs(p - y) / y
        out[k] = {"spearman_heldout": spearman(p[odd], y[odd]), "spearman_all": spearman(p, y),
                  "median_rel_err": float(np.median(rel))}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="corpus size (models)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--max-width", type=int, default=32, help="widest layer in the corpus")
    ap.add_argument("--cache", type=Path, default=None, help="JSON cache of da4ml layer costs")
    ap.add_argument("--family-n", type=int, default=60, help="iso-architecture family size (0: skip)")
    ap.add_argument("--family-seed", type=int, default=7)
    ap.add_argument("--family-sizes", default="16,64,32,32,5", help="the family's layer sizes (jet tagger)")
    ap.add_argument("--family-cache", type=Path, default=None, help="JSON cache of the family's da4ml costs")
    ap.add_argument("--write", action="store_true", help=f"write the coefficients to {COEFF_FILE}")
    args = ap.parse_args(argv)

    import da4ml

    corpus = make_corpus(args.n, args.seed, args.max_width)
    costs = layer_costs(corpus, args.cache)
    even = range(0, len(corpus), 2)
    coeffs = {"layer": fit(corpus, costs, even, exact=False), "weights": fit(corpus, costs, even, exact=True)}
    metrics = {"mixed_corpus": evaluate(corpus, costs, coeffs)}
    family_info = None
    if args.family_n > 0:
        sizes = tuple(int(x) for x in args.family_sizes.split(","))
        family = make_corpus(args.family_n, args.family_seed, sizes=sizes)
        fam_costs = layer_costs(family, args.family_cache)
        # the family is not used for fitting: every member is held out
        metrics["family"] = evaluate(family, fam_costs, coeffs, heldout=range(len(family)))
        family_info = {"sizes": list(sizes), "n": args.family_n, "seed": args.family_seed}
    record = {
        **coeffs,
        "features": ["T*b_a", "T*s", "C*(b_a+s+log2 n)", "T"],
        "target": "da4ml cmvm.solve cost, adder_size=1, carry_size=-1 (sum of adder bit-widths ~ LUT)",
        "da4ml_version": da4ml.__version__,
        "date": datetime.date.today().isoformat(),
        "corpus": {"generator": "cost_models.calibration.make_corpus", "n": args.n, "seed": args.seed,
                   "max_width": args.max_width, "fit_on": "even-numbered models", "held_out": "odd-numbered models"},
        "family": family_info,
        "metrics": metrics,
        "command": f"python benchmarks/cost_calibration.py --n {args.n} --seed {args.seed} --family-n {args.family_n} "
        f"--family-seed {args.family_seed} --family-sizes {args.family_sizes} --write",
    }  # fmt: skip
    print(json.dumps(record, indent=1))
    if args.write:
        COEFF_FILE.parent.mkdir(parents=True, exist_ok=True)
        COEFF_FILE.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {COEFF_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
