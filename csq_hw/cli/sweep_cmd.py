"""``csq-hw sweep``: CSQ over a list of budgets (plus the uniform baseline), a results table, fronts and plots.

Examples::

    csq-hw sweep --model mnist1d-cnn --dataset mnist1d --cost bops --act-bits search \\
        --budget-range 1e5:8e5:5 --baseline uniform --uniform-bits 2,3,4,5,6,8 --epochs 40 --workers 2 \\
        --out runs/mnist1d-bops
    csq-hw sweep --plot-only runs/mnist1d-bops --plot-costs bops,size,lut

Running the same command again skips every finished point (resume). Writes ``OUT/results.csv`` (+ ``.parquet``
with pyarrow), ``OUT/fronts.png``/``.svg`` and ``OUT/layer_bits_<point>.png``; see docs/sweeps.md.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from .config_args import add_config_arguments, config_from_args
from .output_args import add_log_format_arg

HELP = "sweep CSQ over hardware budgets (and a uniform-precision baseline); results table, Pareto fronts, plots"
INTERRUPTED = "finished points are kept: run the same command again to continue"
DEFAULT_PLOT_COSTS = ("size", "ebops", "lut", "latency:bismo", "energy")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML training config used as the base of every point (flags override it)")
    p.add_argument("--cost", help="cost model the budgets are in, e.g. bops, size, lut, latency:bismo")
    p.add_argument("--budgets", help="comma list of budget values in the cost's unit or uN, e.g. 1e5,2e5,u3")
    p.add_argument("--budget-range", dest="budget_range", help="LO:HI:N, N log-spaced budgets, e.g. 1e5:8e5:5")
    p.add_argument("--baseline", choices=["qat", "uniform", "none"], default="none",
                   help="add a uniform-precision baseline at --uniform-bits: qat (plain straight-through QAT on float "
                        "weights, the reference line) or uniform (CSQ bit planes at fixed bits, an ablation); same "
                        "quantizers, data and epochs")  # fmt: skip
    p.add_argument("--uniform-bits", dest="uniform_bits", default="2,3,4,5,6,8",
                   help="baseline widths for weights and activations (default 2,3,4,5,6,8)")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="points run at once (local processes; default 1)")
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default=None,
        help="where the points run: local processes or Ray tasks (csq-hw[ray]) (default: local)",
    )
    p.add_argument("--backend", dest="old_executor", choices=("local", "ray"), help=argparse.SUPPRESS)  # 0.1 name
    p.add_argument("--ray-cpus", dest="ray_cpus", type=float, default=1, help="CPUs per run on Ray (default 1)")
    p.add_argument("--ray-gpus", dest="ray_gpus", type=float, default=0, help="GPUs per run on Ray (default 0)")
    p.add_argument("--out", help="sweep directory (default runs/sweep-<model>-<dataset>-<cost>)")
    p.add_argument("--plot-only", dest="plot_only", metavar="DIR", help="redo the plots of an existing sweep in DIR")
    p.add_argument("--plot-costs", dest="plot_costs",
                   help="cost models to plot, comma list or 'all' (default: the sweep's cost, size, ebops, lut, "
                        "latency:bismo, energy)")  # fmt: skip
    p.add_argument(
        "--layer-plot", dest="layer_plot", metavar="RUN_DIR",
        help="run directory for the per-layer precision plot (default: the most accurate CSQ point)",
    )  # fmt: skip
    p.add_argument("--no-plots", dest="no_plots", action="store_true", help="write the table only")
    p.add_argument("--no-progress", dest="no_progress", action="store_true", help="no progress bar")
    add_log_format_arg(p)
    add_config_arguments(p, exclude=("budget",))  # the base config of every point; its budget comes from --cost


def _plot_costs(text: str | None, df, kind: str | None) -> list[str]:
    from csq_hw.sweep.table import cost_columns

    have = cost_columns(df)
    if text == "all":
        return have
    if text:
        return [c.strip() for c in text.split(",") if c.strip()]
    wanted = ([kind] if kind else []) + list(DEFAULT_PLOT_COSTS)
    return [c for c in dict.fromkeys(wanted) if c in have]


def make_plots(df, out: Path, costs: list[str], layer_run: str | None) -> list[Path]:
    """Fronts (PNG + SVG) next to the table and one per-layer precision plot; returns the files."""
    from csq_hw.plots import plot_fronts, plot_layer_bits, save_figure

    title = f"{df['model'].iloc[0]} on {df['dataset'].iloc[0]}" if "model" in df and len(df) else None
    files = save_figure(plot_fronts(df, costs, title=title), out / "fronts")
    if layer_run is None:
        csq = df[df["method"] == "csq"]
        pool = csq if len(csq) else df
        if len(pool):
            best = pool.sort_values(["test_acc", "final_cost"], ascending=[False, True]).iloc[0]
            layer_run = str(best["run_dir"])
    if layer_run is not None:
        files += save_figure(plot_layer_bits(layer_run), out / f"layer_bits_{Path(layer_run).name}.png")
    return files


def print_table(df, kind: str | None) -> None:
    cols = ["method", "budget_spec", "test_acc", "soft_test_acc"]
    if kind and f"cost_{kind}" in df:
        cols.append(f"cost_{kind}")
    cols += ["avg_weight_bits", "run_dir"]
    print(df[[c for c in cols if c in df]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def run(args: argparse.Namespace) -> int:
    from csq_hw.errors import CsqWarning, UserError
    from csq_hw.sweep import budget_list, load_results, run_sweep
    from csq_hw.train.config import config_options

    if args.plot_only:
        out = Path(args.plot_only)
        df = load_results(out)
        kind = str(df["budget_kind"].iloc[0]) if "budget_kind" in df and len(df) else None
        for path in make_plots(df, out, _plot_costs(args.plot_costs, df, kind), args.layer_plot):
            print(f"wrote {path}")
        return 0
    if not args.cost:
        raise UserError("give --cost KIND (e.g. bops) for the budgets, or --plot-only DIR to redo plots")
    if args.budgets is None and args.budget_range is None:
        raise UserError("give --budgets 1e5,2e5 (or uN values) or --budget-range LO:HI:N")
    base = config_from_args(args, (o.flat for o in config_options() if o.flat != "budget"))
    budgets = budget_list(args.cost, args.budgets, args.budget_range)
    bits = None
    if args.baseline != "none":
        try:
            bits = [int(b) for b in args.uniform_bits.split(",") if b.strip()]
        except ValueError:
            raise UserError(f"--uniform-bits {args.uniform_bits!r}; give integers, e.g. 2,3,4,5,6,8") from None
        if not bits:
            raise UserError("--uniform-bits is empty; give integers, e.g. 2,3,4,5,6,8")
    safe = args.cost.replace(":", "-").replace("=", "-").replace("/", "_")
    out = Path(args.out) if args.out else Path("runs") / f"sweep-{base.model.name}-{base.data.dataset}-{safe}"
    if args.old_executor is not None:
        warnings.warn(f"sweep --backend is now --executor (export's --backend is the hls4ml backend); "
                      f"running with --executor {args.old_executor}", CsqWarning, stacklevel=1)  # fmt: skip
    backend = args.executor or args.old_executor or "local"
    if backend == "ray":  # per-run resources; the cluster from RAY_ADDRESS or a local instance (docs/distributed.md)
        from csq_hw.sweep.ray_backend import make_ray_backend

        backend = make_ray_backend(num_cpus=args.ray_cpus, num_gpus=args.ray_gpus)
    kind = "uniform" if args.baseline == "none" else args.baseline  # (no widths for "none")
    df = run_sweep(base, budgets, out, workers=args.workers, baseline_bits=bits, backend=backend,
                   progress=not args.no_progress, baseline=kind, log_format=args.log_format)  # fmt: skip
    print_table(df, args.cost)
    print(f"results table: {out / 'results.csv'}")
    if not args.no_plots:
        for path in make_plots(df, out, _plot_costs(args.plot_costs, df, args.cost), args.layer_plot):
            print(f"wrote {path}")
    return 0
