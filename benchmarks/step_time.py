"""CSQ training-step time / float training-step time, measured in one run (goal: <= 2.0 on CPU).

Usage:
    python benchmarks/step_time.py [--steps 200] [--threads 2]

For each model, the float model and its CSQ version (search phase, size budget term on, the full training step of
``csq_hw.train.trainer.train_epoch``) are timed alternately over the same batches; the script prints the median step
times and their ratio. Timings on a shared machine are noisy: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from csq_hw import TrainConfig
from csq_hw.quant.layer_bits import hard_bits, soft_bits
from csq_hw.quant.layers import set_phase, set_temperature
from csq_hw.train.budget import BudgetRegularizer
from csq_hw.train.train_run import build_csq_model
from csq_hw.train.trainer import hard_state_key, make_optimizer
from csq_hw.zoo.models import build_model, model_info

CASES = [("jet-mlp", 1024, "size=u4"), ("digits-cnn", 64, "size=u4"), ("digits-mlp", 64, "size=u3")]


def _float_step(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _csq_step(model, opt, x, y, reg, geometry, cache):
    """One step as ``train_epoch`` takes it (the exact cost is cached while no mask logit changes sign)."""
    loss = F.cross_entropy(model(x), y)
    key = hard_state_key(model)
    if key not in cache:
        with torch.no_grad():
            cache[key] = float(reg.budget.cost(geometry, hard_bits(model)))
    hard = cache[key]
    loss = loss + reg(geometry, soft_bits(model), hard)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    print(f"{'model':<12} {'batch':>5} {'float ms':>9} {'csq ms':>8} {'ratio':>6}")
    for name, batch, budget in CASES:
        info = model_info(name)
        torch.manual_seed(0)
        fmodel = build_model(name)
        cmodel, geometry, b = build_csq_model(TrainConfig.from_flat(model=name, budget=budget))
        set_temperature(cmodel, 5.0)
        set_phase(cmodel, "search")
        reg = BudgetRegularizer(b, 2.0)
        fopt = torch.optim.Adam(fmodel.parameters(), lr=1e-3, foreach=True)
        copt = make_optimizer(cmodel, "adam", 1e-3, 0.0)  # what the trainer uses
        x = torch.randn(batch, *info.input_shape).abs()
        y = torch.randint(0, info.n_classes, (batch,))
        fmodel.train()
        cmodel.train()
        ft, ct, cache = [], [], {}
        for j in range(args.steps + 10):
            t0 = time.perf_counter()
            _float_step(fmodel, fopt, x, y)
            t1 = time.perf_counter()
            _csq_step(cmodel, copt, x, y, reg, geometry, cache)
            t2 = time.perf_counter()
            if j >= 10:  # warm-up
                ft.append(t1 - t0)
                ct.append(t2 - t1)
        f_ms, c_ms = 1e3 * statistics.median(ft), 1e3 * statistics.median(ct)
        print(f"{name:<12} {batch:>5} {f_ms:>9.3f} {c_ms:>8.3f} {c_ms / f_ms:>6.2f}")


if __name__ == "__main__":
    main()
