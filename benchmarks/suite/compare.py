"""Ablations of the suite: several ``run_suite.py`` outputs side by side, one column per variant and method.

    python benchmarks/suite/compare.py main=runs/suite old=runs/suite-old learned=runs/suite-learned \
        [--seeds 0] [--out runs/suite-ablation.md]

Each ``NAME=DIR`` is a finished (or partly finished) ``run_suite.py --out DIR``; its ``suite_results.csv`` is read.
The table has one row per task and budget and the mean score (points: accuracy % or R^2 %) of every variant's CSQ
and QAT runs over the seeds given (default: the seeds every variant has), then the mean over the rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def load(variants: dict[str, Path], seeds: list[int] | None) -> pd.DataFrame:
    """One frame of every variant's runs, with a ``variant`` column; restricted to ``seeds`` (or the common ones)."""
    frames = []
    for name, out in variants.items():
        if not (out / "suite_results.csv").is_file():
            raise SystemExit(f"compare.py: {out / 'suite_results.csv'} not found; run run_suite.py --out {out} first")
        df = pd.read_csv(out / "suite_results.csv")
        frames.append(df.assign(variant=name))
    runs = pd.concat(frames, ignore_index=True)
    common = set.intersection(*(set(f["seed"]) for f in frames)) if seeds is None else set(seeds)
    return runs[runs["seed"].isin(common)]


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """Rows task x budget, columns ``variant method`` (mean score); a last row with the column means."""
    piv = runs.pivot_table(index=["task", "budget"], columns=["variant", "method"], values="score", sort=False)
    piv.columns = [f"{v} {m}" for v, m in piv.columns]
    piv.loc[("mean", ""), :] = piv.mean()
    return piv


def markdown(piv: pd.DataFrame) -> str:
    """``piv`` as a markdown table, one decimal (no tabulate needed)."""
    head = ["task", "budget", *piv.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (task, budget), row in piv.iterrows():
        cells = [f"{v:.1f}" if pd.notna(v) else "" for v in row]
        lines.append("| " + " | ".join([str(task), str(budget), *cells]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", metavar="NAME=DIR")
    parser.add_argument("--seeds", default=None, help="comma list (default: the seeds every variant has)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as markdown here")
    args = parser.parse_args()
    variants = {v.split("=", 1)[0]: Path(v.split("=", 1)[1]) for v in args.variants}
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    runs = load(variants, seeds)
    text = markdown(table(runs))
    print(f"seeds {sorted(set(runs['seed']))}\n{text}")
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
