"""``csq-hw train``: CSQ training under a hardware budget from a TOML config and/or flags."""

from __future__ import annotations

import argparse
from pathlib import Path

from .config_args import add_config_arguments, config_from_args
from .output_args import add_log_format_arg

HELP = "train a mixed-precision model with CSQ under a hardware budget"
INTERRUPTED = "the last complete epoch is in the run directory's checkpoint.pt: continue with --resume"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file (flags override it); keys as in csq-hw's configs/*.toml")
    add_config_arguments(p)
    p.add_argument("--out", default=None, help="run directory (default runs/<model>-<dataset>-<budget>-s<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--allow-changes", dest="allow_changes", action="store_true",
                   help="with --resume: continue with changed schedule/optimizer numbers (epochs, lr, ticket, "
                        "temperatures, strength); the schedules follow the new settings from the checkpoint's "
                        "epoch")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_log_format_arg(p)


def _safe(text: str) -> str:
    """A file-name-safe version of a model spec, data set or budget (``mlp:64,32`` -> ``mlp-64_32``)."""
    for a, b in (("=", "-"), (":", "-"), ("/", "_"), (",", "_"), ("\\", "_")):
        text = text.replace(a, b)
    return text


def default_out(cfg) -> Path:
    model = (
        Path(cfg.model.name.split(":")[0]).stem + "-" + cfg.model.name.split(":")[-1]
        if ".py:" in cfg.model.name
        else cfg.model.name
    )
    return Path("runs") / f"{_safe(model)}-{_safe(cfg.data.dataset)}-{_safe(cfg.budget.spec)}-s{cfg.train.seed}"


def run(args: argparse.Namespace) -> int:
    from csq_hw.errors import UserError
    from csq_hw.runtime.distributed import env_world
    from csq_hw.train.config import config_options
    from csq_hw.train.train_run import train_run

    cfg = config_from_args(args, (o.flat for o in config_options()))
    out = Path(args.out) if args.out else default_out(cfg)
    if args.allow_changes and not args.resume:
        raise UserError("--allow-changes applies to --resume only; add --resume or drop it")
    summary = train_run(cfg, out, resume=args.resume, progress=not args.no_progress, allow_changes=args.allow_changes,
                        log_format=args.log_format)  # fmt: skip
    launch = env_world()  # under torchrun only rank 0 reports
    if launch is None or launch[0] == 0:
        print_summary(summary, out)
    return 0


def print_summary(summary: dict, out: Path) -> None:
    from csq_hw.train.summary_report import print_summary as print_report  # the aligned report, with units

    print_report(summary, out)
