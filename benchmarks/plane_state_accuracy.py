"""What the bit planes' memory options cost in accuracy: the same CSQ runs with Adam's plane moments in float32 or
bfloat16 (``plane_adam_state``) and the update after or inside backward (``plane_step_in_backward``), several seeds.

    python benchmarks/plane_state_accuracy.py [--models digits-mlp,digits-cnn] [--seeds 0,1,2] [--epochs 30]

Every run is ``csq-hw train --model M --dataset digits --budget size=u3 --epochs E --seed S`` with the options of
its row, in a temporary directory. Printed: one row per (model, option, seed) with the exact model's test accuracy,
its cost against the budget and the training time, then the mean and spread per (model, option). The float32 /
after-backward row is the default.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from csq_hw import TrainConfig
from csq_hw.train.train_run import train_run

MODES = {
    "float32, after": {},
    "bfloat16, after": {"plane_adam_state": "bfloat16"},
    "float32, in backward": {"plane_step_in_backward": True},
    "bfloat16, in backward": {"plane_adam_state": "bfloat16", "plane_step_in_backward": True},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="digits-mlp,digits-cnn")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--budget", default="size=u3")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                for mode, options in MODES.items():
                    cfg = TrainConfig.from_flat(model=model, dataset="digits", budget=args.budget, epochs=args.epochs,
                                                seed=seed, **options)  # fmt: skip
                    t0 = time.perf_counter()
                    summary = train_run(cfg, Path(tmp) / f"{model}-{seed}-{len(rows)}", progress=False)
                    rows.append({"model": model, "option": mode, "seed": seed,
                                 "test_acc": 100 * summary["test_acc"],
                                 "cost/budget": summary["cost_over_budget"],
                                 "seconds": time.perf_counter() - t0})  # fmt: skip
                    print(pd.DataFrame(rows[-1:]).to_string(header=len(rows) == 1, index=False), flush=True)
    table = pd.DataFrame(rows)
    agg = table.groupby(["model", "option"], sort=False).agg(
        acc_mean=("test_acc", "mean"), acc_min=("test_acc", "min"), acc_max=("test_acc", "max"),
        cost_budget=("cost/budget", "mean"), seconds=("seconds", "mean"),
    )  # fmt: skip
    print()
    print(agg.round(2).to_string())


if __name__ == "__main__":
    main()
