"""``csq-hw train``: CSQ training under a hardware budget from a TOML config and/or flags."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .model_data_args import add_model_data_arguments

HELP = "train a mixed-precision model with CSQ under a hardware budget"
INTERRUPTED = "the last complete epoch is in the run directory's checkpoint.pt: continue with --resume"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file (flags override it)")
    add_model_data_arguments(p)
    p.add_argument(
        "--budget", help="KIND=VALUE, VALUE absolute in the cost's unit or uN (cost at uniform N bits), e.g. size=u3"
    )
    p.add_argument("--strength", type=float, help="budget term strength lambda (default 2.0)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--ticket-epoch", dest="ticket_epoch", type=int,
                   help="first hard-phase epoch (default: a third of the epochs; 80%% with planes)")  # fmt: skip
    p.add_argument("--finetune", choices=["ste", "planes"],
                   help="hand-over at the ticket: ste (default: fresh-schedule straight-through fine-tune of float "
                        "weights on the selected signed-digit values) or planes (the paper's hard phase)")  # fmt: skip
    p.add_argument("--finetune-lr", dest="finetune_lr", type=float,
                   help="base learning rate of the fine-tune's fresh cosine (default: 2 x --lr)")  # fmt: skip
    p.add_argument("--finetune-init", dest="finetune_init", choices=["rewind", "search"],
                   help="fine-tune weights start at the float weights the run started from (rewind, default) or at "
                        "the soft search weights (search)")  # fmt: skip
    p.add_argument("--finetune-step", dest="finetune_step", choices=["mse", "maxabs", "search"],
                   help="fine-tune (and --qat) weight step: the power of two of least squared error (mse, default), "
                        "per-tensor max-abs (maxabs) or the searched step (search)")  # fmt: skip
    p.add_argument("--qat", action="store_true", default=None,
                   help="plain uniform QAT baseline instead of CSQ: --max-bits weight bits, --act-bits activation "
                        "bits, straight-through rounding of float weights")  # fmt: skip
    p.add_argument(
        "--pretrain-epochs", dest="pretrain_epochs", type=int, help="float warm-start epochs before CSQ (default 0)"
    )
    p.add_argument(
        "--initial-temperature", dest="initial_temperature", type=float, help="T at epoch 0 (default 1, as the paper)"
    )
    p.add_argument("--mask-init", dest="mask_init", type=float, help="initial mask logit (default 0: all bits on)")
    p.add_argument(
        "--settle-epochs",
        dest="settle_epochs",
        type=int,
        help="last search epochs without the budget term: masks saturate before they harden (default 0)",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--max-bits", dest="max_bits", type=int, help="bit positions per weight N (default 8)")
    p.add_argument("--act-bits", dest="act_bits", help="activation bits N, or 'search' (default 8)")
    p.add_argument("--weight-step", dest="weight_step", choices=["pow2", "float"])
    p.add_argument("--first-layer", dest="first_layer", choices=["search", "fixed", "float"])
    p.add_argument("--last-layer", dest="last_layer", choices=["search", "fixed", "float"])
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=["adam", "sgd"])
    p.add_argument("--device", help="auto (default), cpu or cuda (under torchrun: cuda:LOCAL_RANK per process)")
    p.add_argument("--amp", choices=["off", "bf16"], help="autocast the float parts on CUDA (default off)")
    p.add_argument(
        "--plane-dtype", dest="plane_dtype", choices=["float32", "bfloat16"],
        help="storage dtype of the bit planes (default float32; see docs/distributed.md)",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="run directory (default runs/<model>-<dataset>-<budget>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--allow-changes", dest="allow_changes", action="store_true",
                   help="with --resume: continue with changed schedule/optimizer numbers (epochs, lr, ticket, "
                        "temperatures, strength); the schedules follow the new settings from the checkpoint's "
                        "epoch")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _safe(text: str) -> str:
    """A file-name-safe version of a model spec, data set or budget (``mlp:64,32`` -> ``mlp-64_32``)."""
    for a, b in (("=", "-"), (":", "-"), ("/", "_"), (",", "_"), ("\\", "_")):
        text = text.replace(a, b)
    return text


def default_out(cfg) -> Path:
    model = Path(cfg.model.split(":")[0]).stem + "-" + cfg.model.split(":")[-1] if ".py:" in cfg.model else cfg.model
    return Path("runs") / f"{_safe(model)}-{_safe(cfg.dataset)}-{_safe(cfg.budget)}-s{cfg.seed}"


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..distributed import env_world
    from ..errors import UserError
    from ..run import train_run

    keys = [
        *("model", "dataset", "data_dir", "budget", "strength", "epochs", "ticket_epoch", "pretrain_epochs"),
        *("seed", "max_bits", "initial_temperature", "mask_init", "settle_epochs"),
        *("act_bits", "weight_step", "first_layer", "last_layer", "batch_size", "lr", "optimizer", "device"),
        *("amp", "plane_dtype", "finetune", "finetune_lr", "finetune_init", "finetune_step", "qat"),
    ]
    cfg = load_config(args.config, **{k: getattr(args, k) for k in keys})
    out = Path(args.out) if args.out else default_out(cfg)
    if args.allow_changes and not args.resume:
        raise UserError("--allow-changes applies to --resume only; add --resume or drop it")
    summary = train_run(cfg, out, resume=args.resume, progress=not args.no_progress, allow_changes=args.allow_changes)
    launch = env_world()  # under torchrun only rank 0 reports
    if launch is None or launch[0] == 0:
        print_summary(summary, out)
    return 0


def print_summary(summary: dict, out: Path) -> None:
    b = summary["budget"]
    print(f"run directory: {out}")
    if summary.get("test_acc") is not None:
        score = f"exact model test accuracy {summary['test_acc']:.4f} (soft model {summary['soft_test_acc']:.4f})"
    else:
        score = f"exact model test loss {summary['test_loss']:.6g}"
    print(
        f"{score}; "
        f"{b['cost']} = {summary['final_cost']:g} {b['unit']} for a budget of {b['value']:g} "
        f"({summary['cost_over_budget']:.3f} of it)"
    )
    avg = summary["avg_weight_bits"]
    print(f"average weight bits: {avg['weighted']:.2f} (parameter-weighted), {avg['unweighted']:.2f} (per layer)")
    for row in summary["layers"]:
        print(f"  {row['name']:<12} {row['op']:<7} w {row['weight_bits']} bits {row['weight_positions']}  "
              f"a {row['act_bits']} bits")  # fmt: skip
    print(json.dumps({k: round(v, 1) for k, v in summary["costs"].items()}))
