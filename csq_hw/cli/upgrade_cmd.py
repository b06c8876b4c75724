"""``csq-hw upgrade-run``: convert a run directory written before csq-hw stored its architecture as JSON.

Examples::

    csq-hw upgrade-run runs/mine --trust      # architecture.pt (a pickle) -> architecture.json

Older run directories of user models hold ``architecture.pt``, a pickle; unpickling a file can run any code, so
every reader refuses it. This command unpickles it once, for a run you trust, and writes ``architecture.json``
(which reads without running anything), pointing ``precisions.json``, ``exact_model.pt``'s copy of it and
``summary.json``'s digests at the new file. ``architecture.pt`` is left in place; delete it when you like.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from csq_hw.errors import UserError

HELP = "Convert an older run directory's pickled architecture.pt into architecture.json (for a run you trust)."
INTERRUPTED = "the run directory is as it was, or converted: each file is replaced whole"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="run directory holding architecture.pt")
    p.add_argument("--trust", action="store_true",
                   help="you trust this run directory: its pickle is unpickled (it could run code)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from csq_hw.zoo.architecture import PICKLED_ARCHITECTURE_NAME, upgrade_pickle

    if not args.run.is_dir():
        raise UserError(f"run directory {args.run} not found; give the directory that holds precisions.json")
    if not args.trust:
        raise UserError(f"converting {args.run / PICKLED_ARCHITECTURE_NAME} unpickles it, which can run code; pass "
                        "--trust if this run directory comes from you or someone you trust")  # fmt: skip
    new = upgrade_pickle(args.run)
    print(f"csq-hw: wrote {new}; readers now use it (architecture.pt is no longer read)")
    return 0
