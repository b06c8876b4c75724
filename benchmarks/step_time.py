"""CSQ training-step time / float training-step time, measured in one run (goal: <= 2.0).

Usage:
    python benchmarks/step_time.py [--steps 200] [--threads 2] [--compile]     # CPU: jet MLP, digits CNN/MLP
    python benchmarks/step_time.py --device cuda [--compile]                    # GPU: ResNet-20, CIFAR shapes
    python benchmarks/step_time.py --plane-adam-state bfloat16 --plane-step-in-backward   # the memory options

For each model, the float model and its CSQ version (search phase, size budget term on) take one training step
each, alternately, on the same batch: the float step is forward, cross-entropy, backward and an Adam step with the
fastest kernel torch has for it (``fused``, as the trainer's ``optimizer_kernel`` picks; after ``|``: the same float
step with ``foreach`` Adam, the denominator of the measurements before fused kernels); the CSQ step is the step of
``csq_hw.train.trainer.train_epoch`` (the same forward/loss function, the hard-state key and the cached exact cost,
the soft bits and the budget term, the finiteness check, Adam as the trainer builds it, the loss summed on the
device). Printed: median step times (ms) and their ratio. ``--compile`` adds both steps with the forward pass (and,
for CSQ, the budget's soft costs) through ``torch.compile`` (inductor; what ``--compile`` does in training),
compiled before the timing starts, and the ratios compiled CSQ / eager float and compiled CSQ / compiled float. On
CUDA every timed step ends with ``torch.cuda.synchronize()``. Timings on a shared machine are noisy: compare ratios
from one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch

from csq_hw import TrainConfig
from csq_hw.quant.layer_bits import hard_bits
from csq_hw.quant.layers import set_phase, set_temperature
from csq_hw.train.budget import BudgetRegularizer
from csq_hw.train.train_run import build_csq_model
from csq_hw.train.trainer import (
    _cost_bits,
    _soft_costs,
    forward_loss,
    hard_state_keyer,
    make_optimizer,
    optimizer_kernel,
)
from csq_hw.zoo.models import build_model, model_info

CASES = {
    "cpu": [("jet-mlp", 1024, "size=u4"), ("digits-cnn", 64, "size=u4"), ("digits-mlp", 64, "size=u3")],
    "cuda": [("resnet20", 256, "size=u4")],
}
Step = Callable[[], None]


def float_step(model, opt, forward, x, y) -> Step:
    def step() -> None:
        _, loss, _ = forward(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def csq_step(model, opt, forward, x, y, reg, geometry) -> Step:
    """One step as ``train_epoch`` takes it while searching (the exact cost cached while no logit changes sign)."""
    cache: dict[tuple, tuple[float, ...]] = {}
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    state_key = hard_state_keyer(model)

    def step() -> None:
        nonlocal total
        _, loss, soft_costs = forward(x, y)
        key = state_key()
        if key not in cache:
            cache[key] = reg.hard_costs(geometry, hard_bits(model))
        if soft_costs:  # the compiled step: the soft costs came out of the graph
            loss = loss + reg.term(soft_costs, cache[key])
        else:
            loss = loss + reg(geometry, _cost_bits(model, x.device), cache[key])
        if not math.isfinite(loss.item()):
            raise RuntimeError("non-finite loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach().double()

    return step


def _timed(step: Step, device: torch.device) -> float:
    t0 = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def run_case(
    name: str, batch: int, budget: str, device: torch.device, steps: int, compile: bool, memory: dict | None = None
) -> dict:
    info = model_info(name)
    torch.manual_seed(0)
    fmodel = build_model(name).to(device)
    cmodel, geometry, b = build_csq_model(TrainConfig.from_flat(model=name, budget=budget))
    cmodel = cmodel.to(device)
    set_temperature(cmodel, 5.0)
    set_phase(cmodel, "search")
    reg = BudgetRegularizer(b, 2.0)
    x = torch.randn(batch, *info.input_shape, device=device).abs()
    y = torch.randint(0, info.n_classes, (batch,), device=device)
    fmodel.train()
    cmodel.train()
    cmodel(x)  # the first calibration batch (the trainer's first step also runs eagerly)
    variants = {"float": ("float", False), "float_foreach": ("float", False), "csq": ("csq", False)}
    if compile:
        variants |= {"float_c": ("float", True), "csq_c": ("csq", True)}
    steps_of: dict[str, Step] = {}
    for key, (kind, compiled) in variants.items():
        model = fmodel if kind == "float" else cmodel
        costs = None if kind == "float" or not compiled else (lambda: _soft_costs(cmodel, reg, geometry, device))
        forward = forward_loss(model, soft_costs=costs)
        forward = torch.compile(forward) if compiled else forward
        if kind == "float":
            params = list(model.parameters())
            kernel = {"foreach": True} if key == "float_foreach" else optimizer_kernel(params)
            opt = torch.optim.Adam(params, lr=1e-3, **kernel)
            steps_of[key] = float_step(model, opt, forward, x, y)
        else:
            opt = make_optimizer(model, "adam", 1e-3, 0.0, **(memory or {}))
            steps_of[key] = csq_step(model, opt, forward, x, y, reg, geometry)
    times: dict[str, list[float]] = {k: [] for k in steps_of}
    for j in range(steps + 10):  # 10 warm-up rounds (compilation included)
        for key, step in steps_of.items():
            dt = _timed(step, device)
            if j >= 10:
                times[key].append(dt)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads on the CPU")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--compile", action="store_true", help="also time both steps with a compiled forward pass")
    ap.add_argument(
        "--plane-adam-state",
        default="float32",
        choices=("float32", "bfloat16"),
        help="the CSQ step's plane moments (the memory option of the same name)",
    )
    ap.add_argument("--plane-step-in-backward", action="store_true", help="the CSQ step updates the planes in backward")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    head = (
        f"{'model':<12} {'batch':>5} {'float ms':>9} {'csq ms':>8} {'ratio':>6} | {'float foreach ms':>16} {'ratio':>6}"
    )
    if args.compile:
        head += f" | {'float_c ms':>10} {'csq_c ms':>9} {'csq_c/float':>11} {'csq_c/float_c':>13}"
    print(f"{device}, {args.threads} threads, torch {torch.__version__}, median of {args.steps} steps")
    print(head)
    for name, batch, budget in CASES[device.type]:
        memory = {"plane_adam_state": args.plane_adam_state, "plane_step_in_backward": args.plane_step_in_backward}
        t = run_case(name, batch, budget, device, args.steps, args.compile, memory)
        line = (f"{name:<12} {batch:>5} {t['float']:>9.3f} {t['csq']:>8.3f} {t['csq'] / t['float']:>6.2f} | "
                f"{t['float_foreach']:>16.3f} {t['csq'] / t['float_foreach']:>6.2f}")  # fmt: skip
        if args.compile:
            line += (f" | {t['float_c']:>10.3f} {t['csq_c']:>9.3f} {t['csq_c'] / t['float']:>11.2f} "
                     f"{t['csq_c'] / t['float_c']:>13.2f}")  # fmt: skip
        print(line, flush=True)


if __name__ == "__main__":
    main()
