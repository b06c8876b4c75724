"""Steps per second of CSQ training: 2-process DDP (torchrun, gloo on CPU) versus 1 process, same global batch.

    python benchmarks/ddp_throughput.py [--model digits-cnn] [--dataset digits] [--batch-size 64] [--epochs 4]

Runs the timed worker three times: 1 process with 1 torch thread, 1 process with all cores' threads, and
``torchrun --nproc_per_node=2`` (1 thread each, torchrun's default). Each worker times ``train_epoch`` only (no
evaluation, no files) over ``--epochs`` epochs after one warm-up epoch and reports global optimizer steps per
second. Prints one line per configuration and the ratio 2-process / 1-process. On GPUs use
``--device cuda --nproc N`` (one GPU per process).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def worker(args: argparse.Namespace) -> None:
    import torch

    from csq_hw.data import load_dataset
    from csq_hw.quant.layers import set_phase, set_temperature
    from csq_hw.runtime import distributed
    from csq_hw.train.budget import BudgetRegularizer
    from csq_hw.train.config import TrainConfig
    from csq_hw.train.model_build import build_csq_model
    from csq_hw.train.train_run import pick_device
    from csq_hw.train.trainer import make_optimizer, train_epoch
    from csq_hw.zoo.models import model_info

    cfg = TrainConfig.from_flat(
        model=args.model,
        dataset=args.dataset,
        batch_size=args.batch_size,
        epochs=args.epochs + 1,
        budget=args.budget,
        device=args.device,
        act_bits=args.act_bits,
    )
    ctx, device = distributed.setup(pick_device(cfg.train.device))
    try:
        data = load_dataset(cfg.data.dataset, data_dir=args.data_dir).reshaped(model_info(cfg.model.name).input_shape)
        model, geometry, budget = build_csq_model(cfg)
        model.to(device)
        net = distributed.wrap_model(model, device)
        x, y = torch.as_tensor(data.x_train, device=device), torch.as_tensor(data.y_train, device=device)
        opt = make_optimizer(model, cfg.train.optimizer, cfg.train.lr, cfg.train.weight_decay)
        reg = BudgetRegularizer(budget, cfg.budget.strength)
        steps = -(-len(x) // cfg.data.batch_size)
        set_temperature(model, 1.0)
        set_phase(model, "search")
        times = []
        for epoch in range(cfg.train.epochs):
            distributed.barrier()
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            train_epoch(
                net,
                x,
                y,
                optimizer=opt,
                regularizer=reg,
                geometry=geometry,
                batch_size=cfg.data.batch_size,
                seed=0,
                epoch=epoch,
                steps_done=epoch * steps,
                total_steps=steps * cfg.train.epochs,
                base_lr=cfg.train.lr,
                searching=True,
            )
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        if distributed.is_main():
            timed = times[1:]  # epoch 0 is warm-up
            result = {
                "steps_per_s": steps * len(timed) / sum(timed),
                "steps_per_epoch": steps,
                "threads": torch.get_num_threads(),
                "world": distributed.world_size(),
            }
            print("RESULT " + json.dumps(result), flush=True)
        distributed.barrier()
    finally:
        distributed.teardown(ctx)


def _run(cmd: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="digits-cnn")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir", dest="data_dir")
    p.add_argument("--budget", default="size=u3")
    p.add_argument("--act-bits", dest="act_bits", default="8")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=64, help="global batch (default 64)")
    p.add_argument("--epochs", type=int, default=4, help="timed epochs after one warm-up epoch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.act_bits.isdigit():
        args.act_bits = int(args.act_bits)
    if args.worker:
        worker(args)
        return
    me = [os.path.abspath(__file__), "--worker", *sys.argv[1:]]
    results = {}
    if args.device == "cpu":
        results["1 process, 1 thread"] = _run([sys.executable, *me], {"OMP_NUM_THREADS": "1"})
        results[f"1 process, {os.cpu_count()} threads"] = _run(
            [sys.executable, *me], {"OMP_NUM_THREADS": str(os.cpu_count())}
        )
    else:
        results["1 process"] = _run([sys.executable, *me], {})
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={args.nproc}", "--standalone"]
    results[f"{args.nproc} processes (DDP)"] = _run([*launcher, *me], {"OMP_NUM_THREADS": "1"})
    print(f"{args.model} on {args.dataset}, global batch {args.batch_size}, {args.device}, {os.cpu_count()} cores")
    for name, r in results.items():
        print(f"  {name:<28} {r['steps_per_s']:8.1f} steps/s  ({r['steps_per_epoch']} steps/epoch)")
    first = next(iter(results.values()))["steps_per_s"]
    print(f"ratio DDP / {next(iter(results))}: {results[f'{args.nproc} processes (DDP)']['steps_per_s'] / first:.2f}")


if __name__ == "__main__":
    main()
