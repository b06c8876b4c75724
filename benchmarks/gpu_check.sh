#!/usr/bin/env bash
# GPU check for CSQ training (one CUDA device; finishes in well under 5 minutes on an H100):
#  1. ResNet-20 on synthetic CIFAR-shaped data (50,000 train / 2,000 test, random labels, npz) for 2 epochs
#     (epoch 0 search, epoch 1 hard phase), batch 256, three settings: fp32; amp bf16; amp bf16 + bfloat16 planes.
#     Prints seconds per epoch (training + rank-0 evaluation), steps/s, torch.cuda.max_memory_allocated per
#     quantized weight, and the accuracies of the exact model (float64, CPU) and the hard-phase model.
#  2. benchmarks/plane_memory.py on CUDA: bytes per weight of the bit planes (params, grads, Adam, saved tensors)
#     and the peak of one training step versus the float ResNet-20.
# Multi-GPU DDP is not checked here (one GPU); the 2-process CPU (gloo) test is tests/test_distributed.py.
# Usage (repository root): bash benchmarks/gpu_check.sh   [writes under $OUT, or a temporary directory]
set -euo pipefail
OUT="${OUT:-$(mktemp -d)}"
export PYTHONPATH="${PWD}${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python - "$OUT" <<'EOF'
import os, sys, time, traceback
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from csq_hw import TrainConfig, train_run

out = Path(sys.argv[1])
device = os.environ.get("CHECK_DEVICE", "cuda")  # CHECK_DEVICE=cpu CHECK_N=512: a smoke test of this script
n_train = int(os.environ.get("CHECK_N", "50000"))
rng = np.random.default_rng(0)
npz = out / "cifar_synth.npz"
t = time.perf_counter()
np.savez(npz, x_train=rng.standard_normal((n_train, 3, 32, 32), dtype=np.float32).astype(np.float16),
         y_train=rng.integers(0, 10, n_train), x_test=rng.standard_normal((2_000, 3, 32, 32), dtype=np.float32),
         y_test=rng.integers(0, 10, 2_000))
print(f"synthetic data written in {time.perf_counter() - t:.1f} s", flush=True)
print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu'}", flush=True)
settings = [("off", "float32"), ("bf16", "float32"), ("bf16", "bfloat16")]
for amp, planes in settings if device == "cuda" else [("off", "float32"), ("off", "bfloat16")]:
    cfg = TrainConfig(model="resnet20", dataset=f"npz:{npz}", epochs=2, ticket_epoch=1, batch_size=256, lr=0.01,
                      budget="size=u4", device=device, amp=amp, plane_dtype=planes)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    try:
        s = train_run(cfg, out / f"r-{amp}-{planes}", progress=False)
    except Exception:  # report and go on with the next setting
        print(f"resnet20 amp={amp} planes={planes} FAILED:\n" + traceback.format_exc()[-3000:], flush=True)
        continue
    wall = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else float("nan")
    m = pd.read_csv(out / f"r-{amp}-{planes}" / "metrics.csv")
    n_w = sum(r["n_weights"] for r in s["layers"])
    steps = -(-n_train // 256)
    print(f"resnet20 amp={amp:<4} planes={planes:<8} epoch s: {', '.join(f'{v:.2f}' for v in m.seconds)} "
          f"({steps / m.seconds.iloc[0]:.1f} steps/s search, {steps / m.seconds.iloc[1]:.1f} hard); "
          f"max_memory_allocated {peak / 2**20:.0f} MiB = {peak / n_w:.0f} B per weight ({n_w} weights); "
          f"acc exact {s['test_acc']:.4f} / hard-phase {s['hard_model_test_acc']:.4f}; run wall {wall:.1f} s",
          flush=True)
EOF
python benchmarks/plane_memory.py --device "${CHECK_DEVICE:-cuda}" --batch-size 256 || echo "plane_memory.py FAILED"
