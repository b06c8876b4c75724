"""Train one mse task through the Python API (``csq_hw.fit``), for csq-hw versions whose CLI has no ``--loss``.

Usage (run by :mod:`run_suite` in a subprocess, like the CLI runs)::

    python fit_task.py --model /abs/models/regressor.py:build --npz PATH --budget bops=u4 --seed 0 --out DIR \
        [--act-bits search|N] [--qat --max-bits N] [--epochs N] [--resume]

The builder gets ``(input_shape, n_outputs)`` with n_outputs = y's width; the model is built under
``torch.manual_seed(seed)``; x float32 (N, ...), y float32 (N, K); loss ``torch.nn.functional.mse_loss``. Every
other setting is csq-hw's default. The run directory is csq-hw's (``summary.json`` with ``test_loss`` = MSE).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import torch


def load_builder(spec: str):
    """The function ``FUNC`` of a ``PATH.py:FUNC`` builder spec."""
    path, func = spec.rsplit(":", 1)
    mod_spec = importlib.util.spec_from_file_location(f"suite_model_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return getattr(module, func)


def _value(text: str):
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True, anything else the string."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="PATH.py:FUNC builder")
    parser.add_argument("--npz", required=True)
    parser.add_argument("--budget", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--act-bits", default="search")
    parser.add_argument("--qat", action="store_true")
    parser.add_argument("--max-bits", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other TrainConfig option (flat name), e.g. pretrain_epochs=0")  # fmt: skip
    args = parser.parse_args()

    import csq_hw

    with np.load(args.npz) as z:
        xtr, ytr, xte, yte = (torch.from_numpy(z[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
    torch.manual_seed(args.seed)
    model = load_builder(args.model)(tuple(xtr.shape[1:]), int(ytr.shape[1]))
    settings: dict = {"seed": args.seed, "act_bits": args.act_bits if args.act_bits == "search" else int(args.act_bits)}
    if args.qat:
        settings.update(qat=True, max_bits=args.max_bits)
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key.replace("-", "_")] = _value(value)
    run = csq_hw.fit(
        model,
        (xtr, ytr),
        (xte, yte),
        budget=args.budget,
        out=args.out,
        loss_fn=torch.nn.functional.mse_loss,
        progress=False,
        resume=args.resume,
        **settings,
    )
    print(f"test_loss {run.summary.get('test_loss')}")


if __name__ == "__main__":
    main()
