"""``csq-hw demo``: the main job on the embedded digits data, then the firmware export and its bit-exact check.

Trains the digits MLP (64-64-32-10) with CSQ under a model-size budget of 3 bits per weight on average
(``size=u3``), 45 epochs in all (about 15 s on 2 CPU cores): a float warm start (a third of the epochs),
then CSQ: a short precision search (a quarter of the CSQ epochs) and the straight-through fine-tune of the
warm-start weights on the selected precisions. Then it exports the run to an hls4ml project and proves it bit-exact
in C simulation (needs ``pip install csq-hw[hls]`` and a C++ compiler).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from .config_args import add_config_arguments
from .output_args import add_log_format_arg

DEMO_MODELS = ("digits-mlp", "digits-cnn")
HELP = "train the digits MLP under a 3-bit size budget, export it to hls4ml and check it bit-exact"
INTERRUPTED = "the last complete epoch is in the run directory's checkpoint.pt: continue with csq-hw demo --resume"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--model", default="digits-mlp", choices=DEMO_MODELS, help="the network (default: digits-mlp)")
    # 45, not 30: with learned activation ranges (the default) the 30-epoch demo's mean over seeds 0-2 was 97.26 %
    # on AVX-512 kernels (97.70 % AVX2); 45 epochs gave 97.78 / 97.63 % (docs/results_suite.md, the demo section)
    p.add_argument("--epochs", type=int, default=45,
                   help="epochs in all: a third float warm start, the rest CSQ (default: 45 epoch)")  # fmt: skip
    add_config_arguments(p, only=("budget", "seed"), defaults={"budget": "size=u3", "seed": "0"})
    p.add_argument("--no-export", action="store_true", help="stop after training")
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo run")
    p.add_argument("--no-progress", action="store_true")
    add_log_format_arg(p)


def demo_config(model: str, budget: str, epochs: int, seed: int):
    """The demo recipe (docs/method.md): ``epochs`` in all, a third of them a float warm start, then CSQ with the
    ticket after a quarter of the CSQ epochs; the converted model starts at T = 10 with every mask on."""
    from csq_hw.errors import UserError
    from csq_hw.train.config import TrainConfig

    if epochs < 3:
        raise UserError(f"--epochs {epochs}; the demo needs at least 3 (warm start, search, fine-tune)")
    warm = round(epochs / 3)
    csq = epochs - warm
    return TrainConfig.from_flat(model=model, dataset="digits", budget=budget, epochs=csq, pretrain_epochs=warm,
                       ticket_epoch=max(1, round(csq / 4)), initial_temperature=10.0, mask_init=0.5,
                       seed=seed)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from csq_hw.train.train_run import train_run

    from .train_cmd import print_summary

    out = Path(args.out)
    if not args.resume and (out / "summary.json").exists():  # a finished demo run is simply redone
        for name in ("checkpoint.pt", "summary.json", "precisions.json", "exact_model.pt", "metrics.csv"):
            (out / name).unlink(missing_ok=True)
    cfg = demo_config(args.model, args.budget or "size=u3", args.epochs, args.seed or 0)
    summary = train_run(cfg, out, resume=args.resume, progress=not args.no_progress, log_format=args.log_format)
    print_summary(summary, out)
    if args.no_export:
        return 0
    if importlib.util.find_spec("hls4ml") is None:
        print("firmware export skipped: hls4ml is not installed; pip install 'csq-hw[hls]' and run "
              f"csq-hw export {out} --out {out / 'hls_project'}")  # fmt: skip
        return 0
    from . import export_cmd

    parser = argparse.ArgumentParser(prog="csq-hw export")
    export_cmd.add_arguments(parser)
    return int(export_cmd.run(parser.parse_args([str(out), "--out", str(out / "hls_project")])) or 0)
