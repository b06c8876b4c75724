"""Regenerate the figures that docs/sweeps.md ("Plots") shows: ``docs/figures/plots_*.png``.

    python docs/figures/make_figures.py                  # about 2 minutes on 2 CPU cores
    python docs/figures/make_figures.py --out /tmp/figs  # somewhere else

Trains a small digits-MLP sweep (CSQ under two LUT budgets, plain QAT at two widths, a few epochs) into
``--runs`` and draws every ``csq_hw.plots`` function from it; the cost curves price the MNIST-1D CNN at uniform
bits (no training). Re-running resumes the sweep (finished points are skipped) and rewrites the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

PART = "xczu9eg"  # a mid-size Zynq UltraScale+ (ZCU102): the digits MLP's LUT estimate is a visible share of it


def main() -> None:
    import csq_hw
    from cost_models import all_costs, trace_geometry, uniform_bits
    from csq_hw.plots import (
        plot_bit_map,
        plot_cost_curves,
        plot_device_share,
        plot_fronts,
        plot_layer_bits,
        plot_layer_resources,
    )
    from csq_hw.sweep import run_sweep

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="figure folder")
    p.add_argument("--runs", type=Path, default=Path("runs/docs-figures"), help="where the sweep's runs go")
    args = p.parse_args()

    base = csq_hw.TrainConfig.from_flat(model="digits-mlp", dataset="digits", act_bits="search", epochs=6, seed=0)
    df = run_sweep(base, ["lut=u3", "lut=u5"], args.runs, workers=1, baseline_bits=[3, 6], progress=False)
    best = df[df.method == "csq"].sort_values("test_acc").iloc[-1]["run_dir"]
    out = args.out
    plot_fronts(df, ["lut", "bops", "size"], out / "plots_fronts.png", title="digits MLP", part=PART)
    plot_layer_bits(best, out / "plots_layer_bits.png")
    plot_bit_map(best, out / "plots_bit_map.png")
    plot_layer_resources(best, out / "plots_layer_resources.png", title="per-layer estimates (exact weights)")
    plot_device_share(best, PART, out / "plots_device_share.png")

    info = csq_hw.model_info("mnist1d-cnn")
    geometry = trace_geometry(csq_hw.build_model("mnist1d-cnn"), info.input_shape)
    models = ["size", "bops", "ebops", "latency:stripes", "latency:loom", "latency:bismo", "latency:bitfusion",
              "lut", "dsp", "ff", "energy"]  # fmt: skip
    growth = pd.DataFrame({b: all_costs(geometry, uniform_bits(geometry, b, b), models) for b in range(2, 11)}).T
    growth.index.name = "uniform bits (weights and activations)"
    plot_cost_curves(growth / growth.loc[8], out / "plots_cost_curves.png", ylabel="cost / cost at 8 bits",
                     title="MNIST-1D CNN")  # fmt: skip
    for f in sorted(out.glob("plots_*.png")):
        print(f"wrote {f}")


if __name__ == "__main__":
    main()
