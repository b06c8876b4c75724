"""Three methods at equal hardware cost: CSQ, plain QAT (csq-hw sweeps) and HGQ2 (peer_hgq2.py), several seeds.

Reads csq-hw sweep tables (``results.csv``, one per seed, CSQ and ``--baseline qat`` rows) and HGQ2 result tables
(``hgq2_results.csv`` from ``benchmarks/peer_hgq2.py``, one per seed and start width), averages every point over its
seeds and prints, as markdown:

* the per-point table (mean BOPs, EBOPs, accuracy +- sample standard deviation, per-seed accuracies);
* the checks of docs/results_mnist1d.md: for every QAT point a CSQ point with no more BOPs and no lower mean accuracy;
  the cheapest CSQ point that reaches 8-bit QAT's mean accuracy, as a share of its BOPs; HGQ2 matched or beaten at
  equal BOPs and at equal EBOPs; every CSQ run's exact accuracy against its best search-phase accuracy and its final
  cost against its budget.

Usage::

    python benchmarks/compare_fronts.py --sweeps runs/m1d-s0,runs/m1d-s1,runs/m1d-s2 \\
        --hgq2 runs/peer/hgq2_m1d_i4_s0/hgq2_results.csv,... [--plot runs/m1d-compare.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def _sweep_rows(dirs: list[str]) -> pd.DataFrame:
    frames = []
    for d in dirs:
        df = pd.read_csv(Path(d) / "results.csv")
        best_soft = []
        for run in df.run_dir:
            m = pd.read_csv(Path(run) / "metrics.csv")
            s = m[m.phase == "search"].test_acc
            best_soft.append(float(s.max()) if len(s) else float("nan"))
        df["best_search_acc"] = best_soft
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df["point"] = df.method + " " + df.budget_spec
    return df


def _hgq2_rows(files: list[str]) -> pd.DataFrame:
    frames = [pd.read_csv(f).assign(source=f) for f in files]
    df = pd.concat(frames, ignore_index=True)
    df["seed"] = df.source.str.extract(r"_s(\d+)", expand=False).astype(float)
    df["method"] = "hgq2"
    df["point"] = "hgq2 init" + df.init_bits.fillna(8).astype(int).astype(str) + " beta=" + df.beta.map("{:g}".format)
    return df.rename(columns={"bops": "cost_bops", "ebops": "cost_ebops"})


def _means(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["method", "point"], sort=False)
    out = g.agg(seeds=("test_acc", "size"), bops=("cost_bops", "mean"), ebops=("cost_ebops", "mean"),
                acc=("test_acc", "mean"), sd=("test_acc", "std"))  # fmt: skip
    out["per_seed"] = g.test_acc.apply(lambda a: " / ".join(f"{100 * v:.1f}" for v in a))
    return out.reset_index().sort_values(["method", "bops"])


def _dominated_by_csq(point: pd.Series, csq: pd.DataFrame, col: str) -> pd.Series | None:
    """The most accurate CSQ point with ``col`` <= the point's and mean accuracy >= the point's, or None."""
    ok = csq[(csq[col] <= point[col]) & (csq.acc >= point.acc)]
    return None if ok.empty else ok.sort_values("acc").iloc[-1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sweeps", required=True, help="comma list of csq-hw sweep directories (one per seed)")
    p.add_argument("--hgq2", default="", help="comma list of hgq2_results.csv files")
    p.add_argument("--plot", default=None, help="write an accuracy-vs-BOPs/EBOPs figure here (png)")
    args = p.parse_args(argv)
    runs = _sweep_rows([d for d in args.sweeps.split(",") if d])
    frames = [runs]
    if args.hgq2:
        frames.append(_hgq2_rows([f for f in args.hgq2.split(",") if f]))
    allrows = pd.concat(frames, ignore_index=True)
    means = _means(allrows)
    pct = means.assign(acc=100 * means.acc, sd=100 * means.sd)
    print("| method | point | seeds | mean BOPs | mean EBOPs | mean acc | sd | per seed |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in pct.itertuples():
        print(f"| {r.method} | `{r.point}` | {r.seeds} | {r.bops:,.0f} | {r.ebops:,.0f} | {r.acc:.1f} % | "
              f"{r.sd:.1f} | {r.per_seed} |")  # fmt: skip
    csq, qat = means[means.method == "csq"], means[means.method == "qat"]
    print("\nQAT points and the best CSQ point with no more BOPs and no lower mean accuracy:")
    for _, q in qat.iterrows():
        c = _dominated_by_csq(q, csq, "bops")
        verdict = "NONE" if c is None else f"{c.point} ({c.bops:,.0f} BOPs, {100 * c.acc:.1f} %)"
        print(f"  {q.point}: {q.bops:,.0f} BOPs, {100 * q.acc:.1f} % -> {verdict}")
    q8 = qat[qat.point.str.endswith("u8")]
    if not q8.empty:
        q8 = q8.iloc[0]
        reach = csq[csq.acc >= q8.acc].sort_values("bops")
        if reach.empty:
            best = csq.sort_values("acc").iloc[-1]
            print(f"\nno CSQ point reaches 8-bit QAT's {100 * q8.acc:.1f} %; best CSQ {100 * best.acc:.1f} % at "
                  f"{best.bops / q8.bops:.3f} x its BOPs")  # fmt: skip
        else:
            r = reach.iloc[0]
            print(f"\ncheapest CSQ point with mean acc >= 8-bit QAT's {100 * q8.acc:.1f} %: {r.point}, "
                  f"{100 * r.acc:.1f} % at {r.bops:,.0f} BOPs = {r.bops / q8.bops:.3f} x")  # fmt: skip
    hg = means[means.method == "hgq2"]
    for col in ("bops", "ebops"):
        if hg.empty:
            break
        print(f"\nHGQ2 points and the best CSQ point with no more {col.upper()} and no lower mean accuracy:")
        for _, h in hg.iterrows():
            c = _dominated_by_csq(h, csq, col)
            verdict = "NONE" if c is None else f"{c.point} ({c[col]:,.0f}, {100 * c.acc:.1f} %)"
            print(f"  {h.point}: {h[col]:,.0f}, {100 * h.acc:.1f} % -> {verdict}")
    c_runs = runs[runs.method == "csq"]
    gap = 100 * (c_runs.test_acc - c_runs.best_search_acc)
    print(f"\nCSQ runs: {len(c_runs)}; exact - best search-phase accuracy: min {gap.min():+.1f}, median "
          f"{gap.median():+.1f} points; runs more than 0.5 points below: {int((gap < -0.5).sum())}")  # fmt: skip
    ratio = c_runs.cost_over_budget
    low = c_runs[ratio < 0.95]
    names = ", ".join(low.point + " s" + low.seed.astype(str))
    print(
        f"final cost / budget: min {ratio.min():.3f}, max {ratio.max():.3f}; outside [0.95, 1.00]: "
        f"{int(((ratio < 0.95) | (ratio > 1.0)).sum())} ({names})"
    )
    if args.plot:
        _plot(means, args.plot)
    return 0


def _plot(means: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    style = {"csq": ("tab:blue", "o", "CSQ (csq-hw)"), "qat": ("tab:orange", "s", "plain QAT"),
             "hgq2": ("tab:green", "^", "HGQ2")}  # fmt: skip
    for ax, col in zip(axes, ("bops", "ebops"), strict=True):
        for method, g in means.groupby("method"):
            color, marker, label = style.get(method, ("grey", "x", method))
            g = g.sort_values(col)
            ax.errorbar(g[col], 100 * g.acc, yerr=100 * g.sd.fillna(0), fmt=marker, color=color, label=label,
                        capsize=2, alpha=0.85)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel(f"{col.upper()} (mean over seeds)")
        ax.set_ylabel("test accuracy, mean over seeds [%]")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
