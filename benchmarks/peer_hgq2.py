"""Peer comparison: HGQ2 (Keras 3, torch backend) on the same data and architecture as a csq-hw sweep.

HGQ2 learns a fixed-point width per weight and per activation with a penalty ``beta * EBOPs``; sweeping beta traces
its accuracy-cost front. This script trains it on the same data set and architecture as a csq-hw model, measures
every trained model in HGQ2's own **EBOPs** and in csq-hw's **BOPs** (``cost_models`` ``bops`` = MACs * b_w * b_a),
writes ``hgq2_results.csv`` and plots both fronts next to a csq-hw sweep table (``--csq-table``) on the same axes.

Install (an optional extra, not a csq-hw dependency; a separate virtual environment keeps the main one clean)::

    python -m venv /tmp/hgq2env --system-site-packages    # reuses torch, numpy, pandas and csq-hw from the main env
    /tmp/hgq2env/bin/pip install hgq2 keras                # hgq2 0.2.0 needs keras >= 3.15 (+ quantizers)
    KERAS_BACKEND=torch /tmp/hgq2env/bin/python benchmarks/peer_hgq2.py --model mnist1d-cnn --epochs 30 \\
        --betas 1e-7,1e-6,1e-5,1e-4 --csq-table runs/mnist1d-bops/results.csv --out runs/peer_hgq2

Note: hgq2 also installs a top-level package named ``qkeras`` (a QKeras compatibility layer built on HGQ2); never
install it into an environment that holds the real QKeras. ``KERAS_BACKEND`` defaults to ``torch`` here (set before
keras is imported); ``jax`` also works if installed.

Architectures (csq-hw model names):

* ``mnist1d-cnn`` on ``mnist1d``: 3 x QConv1D(32, k=3, stride 2) + ReLU, Flatten, QDense(10). Keras ``padding=
  "same"`` at stride 2 pads (0, 1) where torch's ``padding=1`` pads (1, 1); output lengths (20, 10, 5), weight counts
  and MACs are identical.
* ``digits-mlp`` on ``digits``: QDense 64-64-32-10 with ReLU.
* ``jet-mlp``: QDense 16-64-32-32-5 with ReLU (the hls4ml jet tagger); its csq-hw data set (``jets``, OpenML) needs
  the network, so give ``--npz`` or ``--suite-task toyjets``.
* the csq-hw specs ``mlp:H1,H2,...`` (QDense H1-H2-...-n_classes with ReLU on the flattened sample) and
  ``cnn1d:C1,C2,...`` (per entry QConv1D(C, k=3, ``padding="same"``, i.e. (1, 1) as torch's ``padding=1``) + ReLU +
  Keras ``MaxPooling1D(2)`` while the length is >= 2, then Flatten + QDense(n_classes)). The pooling layer is Keras's
  own, not HGQ2's ``QMaxPool1D``: it has no quantizer of its own (the next layer's input quantizer sets the width,
  and max commutes with that monotone rounding), so the EBOPs count the conv and dense layers only, as csq-hw's
  cost models do. Flatten is channels-last here and channels-first in torch: the same weights in another order.

Data: ``--dataset`` (a csq-hw data set), ``--npz PATH`` (``x_train, y_train, x_test, y_test``; integer labels
0..K-1, K from the labels; ``--model`` then names the architecture, default ``mlp:64,32``) or ``--suite-task NAME``
(a task of ``benchmarks/suite/tasks.py``: its model spec and its cached ``.npz`` under ``--data-dir``, generated
there if missing). Only classification (cross-entropy) tasks are supported: sparse categorical cross-entropy on
the logits, accuracy on the test split. Example (the suite's ``tabular`` task, csq-hw's 30 + 10 warm-start
epochs)::

    OMP_NUM_THREADS=1 KERAS_BACKEND=torch /tmp/hgq2env/bin/python benchmarks/peer_hgq2.py --suite-task tabular \
        --epochs 40 --init-bits 4 --betas 1e-7,1e-6,1e-5,1e-4 --out /tmp/peer/hgq2_tabular_i4_s0

HGQ2 settings (its documented defaults for FPGA targets): weights ``kbi`` with ``SAT_SYM``, activations ``kif`` with
``WRAP`` (``trace_minmax`` after training sets the integer bits from the training data), EBOPs enabled; beta ramps
linearly from 0 to its value over the first 10 % of the epochs and stays there. Adam, learning rate ``--lr``.
The widths start at 8 bits (HGQ2's default) and, being Adam-trained parameters, move by at most about ``lr`` per
step: a short schedule cannot take them far below the start, whatever beta is. ``--init-bits 4`` starts lower.

Costs of each trained model (after ``trace_minmax``):

* ``ebops``: HGQ2's own number, the sum of every layer's ``ebops`` (per MAC: weight bits x input bits; plus bias);
  comparable with csq-hw's ``cost_ebops`` column, which prices CSQ's exact per-value widths the same way (CSQ
  charges its biases at 16 bits; HGQ2's are learned).
* ``bops`` (csq-hw definition, per layer ``MACs * b_w * b_a``) needs one weight width and one activation width per
  layer, while HGQ2 has one per weight / per input element. The mapping: ``b_w`` = the **largest** per-weight
  magnitude width in the layer (HGQ2's ``kq.bits``: integer + fractional bits, sign not counted, as csq-hw's ``b_w``
  does not count it) and ``b_a`` = the **largest** per-element input width **including the sign bit** where the
  element is signed (``relu(i + f) + k``, csq-hw's ``b_a`` convention). That is the datapath a per-layer-precision
  design (CSQ's design space, BISMO, Loom, ...) needs to hold the HGQ2 model unchanged. ``bops_mean`` uses the layer
  means instead (an optimistic figure that no per-layer-uniform datapath reaches; reported for context only).

Output (``--out``): ``hgq2_results.csv`` (one row per beta: accuracy, ebops, bops, bops_mean, per-layer widths,
seconds), ``fronts.png`` / ``fronts.svg`` (accuracy vs EBOPs and vs BOPs; with ``--csq-table`` the csq-hw CSQ and
uniform points and fronts too) and ``comparison.csv`` (for each HGQ2 front point, the cheapest csq-hw run at least as
accurate; written with ``--csq-table``). ``--hls-check N`` also converts each model with hls4ml (Vitis, io_parallel)
and compares its C simulation with Keras on N test samples. ``--replot A.csv,B.csv`` merges earlier results and
plots them without training (no hgq2 needed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from peer_hgq2_data import (  # noqa: E402 - benchmarks/ is on sys.path when this script runs
    DEFAULT_DATASET,
    DEFAULT_NPZ_MODEL,
    dataset_label,
    load_data,
    parse_arch,
    suite_task,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default=None,
                   help=f"architecture: {', '.join(sorted(DEFAULT_DATASET))}, mlp:H1,... or cnn1d:C1,... (default: "
                        f"mnist1d-cnn; {DEFAULT_NPZ_MODEL} with --npz; the task's with --suite-task)")  # fmt: skip
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", default=None, help="csq-hw data set spec (default: mnist1d / digits for the model)")
    src.add_argument("--npz", default=None, metavar="PATH", help="an .npz with x_train, y_train, x_test, y_test")
    src.add_argument("--suite-task", default=None, metavar="NAME",
                     help="a task of benchmarks/suite/tasks.py (its model spec and its cached .npz)")  # fmt: skip
    p.add_argument("--data-dir", default="/tmp/suite_data", help="the suite's .npz cache (with --suite-task)")
    p.add_argument("--betas", default="1e-7,1e-6,1e-5,1e-4", help="comma list of EBOPs penalty weights")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-bits", type=int, default=None, metavar="B",
                   help="initial HGQ2 widths (default: HGQ2's 8 bits for weights and activations)")  # fmt: skip
    p.add_argument("--max-train", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--csq-table", default=None, help="csq-hw sweep results.csv to plot on the same axes")
    p.add_argument("--hls-check", type=int, default=0, metavar="N", help="hls4ml C-sim vs Keras on N test samples")
    p.add_argument("--out", default="runs/peer_hgq2")
    p.add_argument("--replot", default=None, metavar="CSV[,CSV]",
                   help="no training: merge these hgq2_results.csv files, then plot and compare")  # fmt: skip
    args = p.parse_args(argv)
    try:
        args.beta_list = [float(b) for b in args.betas.split(",") if b.strip()]
    except ValueError:
        p.error(f"--betas {args.betas!r}: give numbers, e.g. 1e-6,1e-5")
    if not args.beta_list or any(b < 0 for b in args.beta_list):
        p.error("--betas: give at least one non-negative value")
    if args.epochs < 1 or args.batch_size < 1:
        p.error("--epochs and --batch-size must be at least 1")
    args.task = None
    if args.suite_task:
        try:
            args.task = suite_task(args.suite_task)
        except ValueError as exc:
            p.error(str(exc))
        if args.task.loss != "ce":
            p.error(f"--suite-task {args.task.name}: loss {args.task.loss!r}; only classification tasks are supported")
        if args.model is not None and args.model != args.task.model:
            p.error(f"--model {args.model} differs from task {args.task.name}'s model {args.task.model}; leave it out")
        args.model = args.task.model
    elif args.model is None:
        args.model = DEFAULT_NPZ_MODEL if args.npz else "mnist1d-cnn"
    if args.dataset is None and args.npz is None and args.task is None and args.model not in DEFAULT_DATASET:
        p.error(f"--model {args.model}: no default data set; give --npz or --suite-task")
    try:
        parse_arch(args.model)
    except ValueError as exc:
        p.error(str(exc))
    return args


def build_hgq2(
    model: str, input_shape: tuple[int, ...], beta: float, init_bits: int | None = None, n_classes: int = 10
):
    """The HGQ2 model of ``model`` (csq-hw name or spec; ``input_shape`` channels-last) with ``n_classes`` outputs,
    built under HGQ2's FPGA quantizer defaults; ``init_bits`` sets the initial widths (weights ``b0``; activations
    ``f0 = init_bits - 2`` with HGQ2's ``i0 = 2``)."""
    import keras
    from hgq.config import LayerConfigScope, QuantizerConfigScope
    from hgq.layers import QConv1D, QDense

    w_init = {} if init_bits is None else {"b0": init_bits}
    a_init = {} if init_bits is None else {"i0": 2, "f0": init_bits - 2}
    with (
        QuantizerConfigScope(place="all", default_q_type="kbi", overflow_mode="SAT_SYM", **w_init),
        QuantizerConfigScope(place="datalane", default_q_type="kif", overflow_mode="WRAP", **a_init),
        LayerConfigScope(enable_ebops=True, beta0=beta),
    ):
        kind, sizes = parse_arch(model)
        layers = [keras.Input(input_shape)]
        if kind == "mnist1d-cnn":
            layers += [QConv1D(32, 3, strides=2, padding="same", activation="relu") for _ in range(3)]
            layers += [keras.layers.Flatten(), QDense(n_classes)]
        elif kind == "mlp":
            layers += [QDense(h, activation="relu") for h in sizes] + [QDense(n_classes)]
        else:  # cnn1d: as csq_hw.zoo.model_specs._cnn (pool while the length is >= 2)
            length = input_shape[0]
            for c in sizes:
                layers.append(QConv1D(c, 3, padding="same", activation="relu"))
                if length >= 2:
                    layers.append(keras.layers.MaxPooling1D(2))
                    length //= 2
            layers += [keras.layers.Flatten(), QDense(n_classes)]
        return keras.Sequential(layers)


def kernel_layers(model) -> list:
    from hgq.layers import QConv1D, QDense

    return [la for la in model.layers if isinstance(la, (QDense, QConv1D))]


def layer_widths(layer) -> dict[str, float]:
    """Per-weight and per-input-element widths of one HGQ2 layer (after ``trace_minmax``), reduced to the layer."""
    from keras import ops

    w = np.asarray(ops.convert_to_numpy(layer.kq.bits_(ops.shape(layer.kernel))), dtype=np.float64)
    shape = (1, *layer.input.shape[1:])
    q = layer.iq.quantizer
    a_mag = np.asarray(ops.convert_to_numpy(layer.iq.bits_(shape)), dtype=np.float64)
    k = np.asarray(ops.convert_to_numpy(q.bw_mapper.bw_to_x(q.k, shape)), dtype=np.float64)
    a = np.where(a_mag > 0, a_mag + k, 0.0)  # csq-hw's b_a counts the sign bit of a signed element
    w = np.broadcast_to(w, ops.shape(layer.kernel))
    return {
        "w_max": float(w.max()),
        "w_mean": float(w.mean()),
        "w_zero_frac": float((w <= 0).mean()),
        "a_max": float(a.max()),
        "a_mean": float(a.mean()),
        "ebops": float(ops.convert_to_numpy(layer.ebops)),
    }


def csq_geometry(model: str, input_shape: tuple[int, ...] | None = None, n_classes: int | None = None) -> list:
    """Per-layer geometry (MACs, ...) of csq-hw's float model ``model``; a spec needs its (torch) input shape and
    its classes."""
    import csq_hw
    from cost_models import trace_geometry

    info = csq_hw.model_info(model)
    if info.from_kwargs:
        return trace_geometry(csq_hw.build_model(model, input_shape=input_shape, n_classes=n_classes), input_shape)
    return trace_geometry(csq_hw.build_model(model), info.input_shape)


def train_one(args, beta: float, data, geometry) -> tuple[dict, object]:
    import keras
    from hgq.utils import trace_minmax
    from hgq.utils.sugar import BetaScheduler, FreeEBOPs, PieceWiseSchedule

    x_tr, y_tr, x_te, y_te = data
    keras.utils.set_random_seed(args.seed)
    model = build_hgq2(args.model, x_tr.shape[1:], beta, args.init_bits, args.n_classes)
    model.compile(optimizer=keras.optimizers.Adam(args.lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])  # fmt: skip
    warm = max(1, args.epochs // 10)
    schedule = PieceWiseSchedule([(0, 0.0, "linear"), (warm, beta, "constant")])
    t0 = time.perf_counter()
    model.fit(x_tr, y_tr, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              callbacks=[FreeEBOPs(), BetaScheduler(schedule)])  # fmt: skip
    seconds = time.perf_counter() - t0
    ebops = float(trace_minmax(model, x_tr, batch_size=1024))  # sets WRAP integer bits; returns the exact EBOPs
    logits = np.asarray(model.predict(x_te, batch_size=1024, verbose=0))
    acc = float((logits.argmax(1) == y_te).mean())
    layers = kernel_layers(model)
    if len(layers) != len(geometry):
        raise RuntimeError(f"{len(layers)} HGQ2 kernel layers but {len(geometry)} csq-hw layers")
    row = {"peer": "hgq2", "model": args.model, "dataset": dataset_label(args), "npz": args.npz_path,
           "seed": args.seed, "beta": beta, "init_bits": args.init_bits or 8, "epochs": args.epochs,
           "lr": args.lr, "batch_size": args.batch_size, "n_train": len(x_tr), "test_acc": acc,
           "test_acc_pct": 100 * acc, "ebops": ebops, "bops": 0.0, "bops_mean": 0.0, "ebops_layers": 0.0,
           "train_seconds": seconds}  # fmt: skip
    for g, layer in zip(geometry, layers, strict=True):
        wd = layer_widths(layer)
        row["bops"] += g.macs * wd["w_max"] * wd["a_max"]
        row["bops_mean"] += g.macs * wd["w_mean"] * wd["a_mean"]
        row["ebops_layers"] += wd["ebops"]
        for key in ("w_max", "w_mean", "w_zero_frac", "a_max", "a_mean"):
            row[f"{key}_{g.name}"] = round(wd[key], 4)
    if args.hls_check:
        row.update(hls_check(model, x_te[: args.hls_check], Path(args.out) / f"hls_beta{beta:g}"))
    return row, model


def hls_check(model, x: np.ndarray, out_dir: Path) -> dict:
    """hls4ml (Vitis, io_parallel) C simulation vs Keras on ``x``: the share of outputs that are equal."""
    import hls4ml

    cfg = {"Model": {"Precision": "ap_fixed<1,0>", "ReuseFactor": 1}}
    hm = hls4ml.converters.convert_from_keras_model(model, output_dir=str(out_dir), backend="Vitis",
                                                    io_type="io_parallel", hls_config=cfg)  # fmt: skip
    hm.compile()
    y_hls = np.asarray(hm.predict(x), dtype=np.float64).reshape(len(x), -1)
    y_keras = np.asarray(model.predict(x, verbose=0), dtype=np.float64).reshape(len(x), -1)
    return {"hls_equal_frac": float((y_hls == y_keras).mean()), "hls_max_diff": float(np.abs(y_hls - y_keras).max())}


def compare(hgq: pd.DataFrame, csq: pd.DataFrame) -> pd.DataFrame:
    """For each HGQ2 front point and each cost: the cheapest csq-hw run (CSQ, uniform) at least as accurate."""
    from csq_hw.sweep.pareto import min_cost_at_accuracy, pareto_front

    rows = []
    for cost, csq_col in (("ebops", "cost_ebops"), ("bops", "cost_bops")):
        for _, p in pareto_front(hgq, cost).iterrows():
            row = {"cost": cost, "beta": p["beta"], "hgq2_acc": p["test_acc"], "hgq2_cost": p[cost]}
            for method, group in csq.groupby("method"):
                best = min_cost_at_accuracy(group, csq_col, p["test_acc"])
                row[f"{method}_cost"] = None if best is None else best[csq_col]
                row[f"{method}_acc"] = None if best is None else best["test_acc"]
                row[f"{method}_over_hgq2"] = None if best is None else best[csq_col] / p[cost]
            rows.append(row)
    return pd.DataFrame(rows)


def plot(hgq: pd.DataFrame, csq: pd.DataFrame | None, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from csq_hw.sweep.pareto import pareto_front

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    series = [("HGQ2", hgq, {"ebops": "ebops", "bops": "bops"}, "tab:green", "D")]
    if csq is not None:
        for method, color, marker in (("csq", "tab:blue", "o"), ("uniform", "tab:orange", "s")):
            group = csq[csq["method"] == method]
            if len(group):
                label = "csq-hw CSQ" if method == "csq" else "csq-hw uniform QAT"
                series.append((label, group, {"ebops": "cost_ebops", "bops": "cost_bops"}, color, marker))
    for ax, cost in zip(axes, ("ebops", "bops"), strict=True):
        for label, df, cols, color, marker in series:
            col = cols[cost]
            ax.scatter(df[col], 100 * df["test_acc"], color=color, marker=marker, alpha=0.35, s=22)
            front = pareto_front(df, col)
            ax.plot(front[col], 100 * front["test_acc"], color=color, marker=marker, label=label,
                    drawstyle="steps-post")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("EBOPs (HGQ2 definition)" if cost == "ebops" else "BOPs = MACs * b_w * b_a (per-layer widths)")
        ax.set_ylabel("test accuracy [%]")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{hgq['model'].iloc[0]} on {hgq['dataset'].iloc[0]}: HGQ2 vs csq-hw")
    fig.tight_layout()
    paths = []
    for fmt in ("png", "svg"):
        paths.append(out / f"fronts.{fmt}")
        fig.savefig(paths[-1], dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    csq = None
    if args.csq_table:
        path = Path(args.csq_table)
        if path.is_dir():
            path = path / "results.csv"
        if not path.is_file():
            print(f"peer_hgq2: --csq-table {path} not found; give a csq-hw sweep results.csv", file=sys.stderr)
            return 2
        csq = pd.read_csv(path)
        missing = {"method", "test_acc", "cost_ebops", "cost_bops"} - set(csq.columns)
        if missing:
            print(f"peer_hgq2: {path} lacks columns {sorted(missing)}; give a csq-hw sweep table", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        hgq = pd.concat([pd.read_csv(f) for f in args.replot.split(",")], ignore_index=True)
        hgq = hgq.sort_values("beta", kind="stable").reset_index(drop=True)
        hgq.to_csv(out / "hgq2_results.csv", index=False)
        return report(hgq, csq, out)
    try:
        import hgq  # noqa: F401
        import keras
    except ImportError as exc:
        print(f"peer_hgq2: {exc}; install with `pip install hgq2 keras` (see this script's docstring)", file=sys.stderr)
        return 2
    if keras.backend.backend() != os.environ["KERAS_BACKEND"]:  # pragma: no cover - keras read another setting
        print(f"peer_hgq2: keras uses backend {keras.backend.backend()!r}", file=sys.stderr)
    try:
        data = load_data(args)
    except (OSError, ValueError) as exc:
        print(f"peer_hgq2: {exc}", file=sys.stderr)
        return 2
    geometry = csq_geometry(args.model, args.torch_shape, args.n_classes)
    print(f"hgq2 on keras {keras.__version__} ({keras.backend.backend()} backend): {args.model} on "
          f"{dataset_label(args)} (input {data[0].shape[1:]}, {args.n_classes} classes), {len(data[0])} training "
          f"samples, {args.epochs} epochs, seed {args.seed}, betas {args.beta_list}", flush=True)  # fmt: skip
    rows = []
    for beta in args.beta_list:
        row, _ = train_one(args, beta, data, geometry)
        rows.append(row)
        print(f"beta={beta:g}: test acc {row['test_acc_pct']:.2f} %, EBOPs {row['ebops']:,.0f}, "
              f"BOPs {row['bops']:,.0f} (layer means {row['bops_mean']:,.0f}), {row['train_seconds']:.1f} s",
              flush=True)  # fmt: skip
        pd.DataFrame(rows).to_csv(out / "hgq2_results.csv", index=False)  # after every point: partial results
    return report(pd.DataFrame(rows), csq, out)


def report(hgq: pd.DataFrame, csq: pd.DataFrame | None, out: Path) -> int:
    files = plot(hgq, csq, out)
    print(f"wrote {out / 'hgq2_results.csv'}, {', '.join(str(f) for f in files)}")
    if csq is not None:
        table = compare(hgq, csq)
        table.to_csv(out / "comparison.csv", index=False)
        with pd.option_context("display.width", 200, "display.max_columns", None):
            print(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
