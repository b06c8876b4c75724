"""Float reference: train a task's model in plain torch (no quantization) for a few epochs and score it.

Score in points (%): classification -> test accuracy; mse tasks -> R^2 = 100 * (1 - MSE / Var(y_test)), with
Var(y_test) the per-output variance averaged over outputs (the same convention as :mod:`run_suite`).
Usage: ``python float_baseline.py --tasks kws,shapes-cnn --epochs 10 [--data-dir D]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tasks import TASKS, Task, dataset_path


def build_float(model_spec: str, input_shape: tuple[int, ...], n_out: int) -> torch.nn.Module:
    """The float model of ``model_spec`` (a csq-hw ``--model`` value) for one sample shape and ``n_out`` outputs."""
    from csq_hw.zoo.models import build_model

    try:
        return build_model(model_spec, input_shape=tuple(input_shape), n_classes=n_out)
    except TypeError:  # a zoo name with a fixed shape (jet-mlp)
        return build_model(model_spec)


def r2_percent(mse: float, y_test: np.ndarray) -> float:
    """100 * (1 - mse / Var(y_test)), Var per output column averaged over columns."""
    var = float(np.var(y_test.reshape(len(y_test), -1), axis=0).mean())
    return 100.0 * (1.0 - mse / var)


def train_float(task: Task, npz: Path, epochs: int = 10, seed: int = 0, lr: float = 3e-3, batch: int = 64) -> float:
    """Train ``task``'s model in float with Adam (cosine lr) on ``npz``; return its test score in points."""
    torch.manual_seed(seed)
    with np.load(npz) as z:
        xtr, ytr, xte, yte = (torch.from_numpy(z[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
    mse = task.loss == "mse"
    n_out = ytr.shape[1] if mse else int(ytr.max()) + 1
    model = build_float(task.model, tuple(xtr.shape[1:]), n_out)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(xtr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss_fn = F.mse_loss if mse else F.cross_entropy
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xtr), generator=gen).split(batch):
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        out = model(xte)
    if mse:
        return r2_percent(float(F.mse_loss(out, yte)), yte.numpy())
    return 100.0 * float((out.argmax(1) == yte).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description="float (unquantized) reference accuracy of the suite's tasks")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.tasks.split(","):
        task = TASKS[name]
        t0 = time.perf_counter()
        npz = dataset_path(task, 0, args.data_dir, verbose=True)
        t1 = time.perf_counter()
        score = train_float(task, npz, args.epochs, args.seed)
        t2 = time.perf_counter()
        print(f"{name:16s} float {score:6.2f} %  (data {t1 - t0:5.1f} s, train {t2 - t1:5.1f} s)", flush=True)


if __name__ == "__main__":
    main()
