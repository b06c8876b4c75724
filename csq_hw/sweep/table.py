"""The sweep results table: one row per run directory, assembled from ``summary.json`` and ``precisions.json``.

Columns (units in brackets):

* ``method`` (``csq`` | ``qat`` | ``uniform``), ``budget_spec`` (e.g. ``bops=200000``, ``bops=u4``), ``budget_kind``,
  ``budget_value`` [the kind's unit], ``uniform_bits`` (the baseline's width, empty for CSQ);
* ``test_acc`` (exact model, fraction 0..1), ``soft_test_acc`` (hard masks, relaxed digits), ``final_cost``
  [budget unit] and ``cost_over_budget``;
* ``cost_<name>`` for every built-in cost model, e.g. ``cost_bops`` [BOP], ``cost_size`` [bit], ``cost_lut``;
* ``avg_weight_bits`` (parameter-weighted), ``w_bits_<layer>`` / ``a_bits_<layer>`` per layer (weight bit
  positions; input activation width incl. sign) and ``layer_bits`` (the same as a JSON object);
* ``run_dir`` (absolute; export it with ``csq-hw export``), ``seed``, ``model``, ``dataset``, ``epochs``,
  ``train_seconds``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import Precisions
from csq_hw.handoff.precisions import read_precisions
from csq_hw.handoff.run_summary import read_summary
from csq_hw.runtime.atomic_io import atomic_write, write_json, write_text

__all__ = ["SUMMARY_KEYS", "read_run", "collect_results", "write_results", "read_results", "write_sweep_meta",
           "cost_columns", "SWEEP_SCHEMA"]  # fmt: skip

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
SWEEP_JSON = "sweep.json"
SWEEP_SCHEMA = "csq-hw/sweep"
SUMMARY_KEYS = ("test_acc", "soft_test_acc", "costs", "budget", "final_cost", "layers", "avg_weight_bits", "seed")
_RERUN = "delete that run directory and run the sweep again (or re-run `csq-hw train`)"


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """One table row from a finished run directory; one-line errors for missing or other-version files."""
    run_dir = Path(run_dir)
    for name in ("summary.json", "precisions.json"):
        if not (run_dir / name).is_file():
            raise UserError(f"{run_dir} has no {name}: not a finished csq-hw run; {_RERUN}")
    prec = read_precisions(run_dir / "precisions.json")
    s = read_summary(run_dir)
    missing = [k for k in SUMMARY_KEYS if not isinstance(s, dict) or k not in s]
    if missing:
        raise UserError(f"{run_dir}/summary.json is from an older csq-hw (no {', '.join(missing)}); {_RERUN}")
    budget = s["budget"]
    method = s.get("method", "csq")
    spec = str(budget.get("spec", ""))
    row: dict[str, Any] = {
        "method": method,
        "budget_spec": spec,
        "budget_kind": budget.get("cost"),
        "budget_value": float(budget.get("value", float("nan"))),
        "uniform_bits": int(Precisions.of(prec).layers[0].weight.bits) if method in ("qat", "uniform") else None,
        "test_acc": float(s["test_acc"]),
        "soft_test_acc": float(s["soft_test_acc"]),
        "final_cost": float(s["final_cost"]),
        "cost_over_budget": float(s.get("cost_over_budget", float("nan"))),
    }
    row.update({f"cost_{name}": float(v) for name, v in s["costs"].items()})
    row["avg_weight_bits"] = float(s["avg_weight_bits"]["weighted"])
    layers = {la["name"]: {"w": int(la["weight_bits"]), "a": int(la["act_bits"])} for la in s["layers"]}
    for name, b in layers.items():
        row[f"w_bits_{name}"] = b["w"]
        row[f"a_bits_{name}"] = b["a"]
    row["layer_bits"] = json.dumps(layers)
    row.update(
        run_dir=str(run_dir.resolve()), seed=s["seed"], model=s.get("model"), dataset=s.get("dataset"),
        epochs=s.get("epochs"), train_seconds=s.get("train_seconds"),
    )  # fmt: skip
    return row


def collect_results(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """The results table for ``run_dirs``: CSQ rows by budget value, then uniform rows by width."""
    rows = [read_run(d) for d in run_dirs]
    if not rows:
        return pd.DataFrame(columns=["method", "budget_spec", "budget_value", "test_acc", "run_dir"])
    df = pd.DataFrame(rows)
    df["_order"] = df["method"].map({"csq": 0, "qat": 1, "uniform": 2}).fillna(2)
    df = df.sort_values(["_order", "budget_value"], kind="stable").drop(columns="_order").reset_index(drop=True)
    return df


def cost_columns(df: pd.DataFrame) -> list[str]:
    """Cost-model names present in ``df`` (``cost_bops`` -> ``bops``)."""
    return [c[len("cost_") :] for c in df.columns if c.startswith("cost_") and c != "cost_over_budget"]


def write_results(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """``results.csv`` (always) and ``results.parquet`` (where pyarrow is installed), both written atomically."""
    out = Path(out_dir)
    paths = [write_text(out / RESULTS_CSV, df.to_csv(index=False))]
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return paths
    paths.append(atomic_write(out / RESULTS_PARQUET, lambda f: df.to_parquet(f, index=False)))
    return paths


def read_results(out_dir: str | Path) -> pd.DataFrame:
    """Read ``OUT/results.csv`` (or a CSV/Parquet path given directly)."""
    p = Path(out_dir)
    path = p if p.is_file() else p / RESULTS_CSV
    if not path.is_file():
        raise UserError(f"no results table at {path}; run `csq-hw sweep --out {p}` first (or point at its directory)")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not a readable CSV ({type(exc).__name__}); run the sweep again") from None
    missing = [c for c in ("method", "budget_spec", "test_acc", "run_dir") if c not in df.columns]
    if missing:
        raise UserError(f"{path} is not a csq-hw sweep table (no {', '.join(missing)} column); run the sweep again")
    return df


def write_sweep_meta(out_dir: str | Path, base_cfg: Any, points: Sequence[Any]) -> Path:
    """``OUT/sweep.json``: the base config and every point (method, label, run directory)."""
    meta = {
        "schema": SWEEP_SCHEMA,
        "version": 1,
        "base_config": base_cfg.to_flat(),
        "points": [{"method": p.method, "label": p.label, "run_dir": str(p.run_dir)} for p in points],
    }
    return write_json(Path(out_dir) / SWEEP_JSON, meta)
