"""``csq-hw`` entry point: dispatches to subcommand modules, imported lazily.

Every subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Bad input raises :class:`csq_hw.errors.UserError` (or ``cost_models.CostError``): printed as one line
``csq-hw: error: ...`` with exit code 2. A :class:`csq_hw.errors.CsqWarning` prints as ``csq-hw: warning: ...``.
Ctrl-C prints the module's ``INTERRUPTED`` sentence (what state it leaves behind) and exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

# subcommand -> module under csq_hw.cli (imported only when that subcommand runs or --help is built)
SUBCOMMANDS: dict[str, str] = {
    "train": "train_cmd",
    "demo": "demo_cmd",
    "cost": "cost_cmd",
    "export": "export_cmd",
    "sweep": "sweep_cmd",
}


def _load(module: str):
    return importlib.import_module(f"csq_hw.cli.{module}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csq-hw",
        description="Hardware-aware mixed-precision quantization (CSQ) with FPGA/ASIC budgets and hls4ml export.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in SUBCOMMANDS.items():
        try:
            mod = _load(module)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("csq_hw.cli."):
                continue  # subcommand not shipped in this build
            raise
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from cost_models import CostError

    from ..errors import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return 2
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        try:
            return int(args._module.run(args) or 0)
        except (UserError, CostError) as exc:
            msg = " ".join(str(exc).split())
            print(f"csq-hw: error: {msg}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # the output went to `head` or a closed pipe: not an error of the command
            sys.stderr.close()
            return 0
        except KeyboardInterrupt:
            said = getattr(args._module, "INTERRUPTED", "nothing was finished")
            print(f"csq-hw: interrupted; {said}", file=sys.stderr)
            return 130


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """csq-hw's own warnings as ``csq-hw: warning: ...``; others as Python prints them."""
    from ..errors import CsqWarning

    if issubclass(category, CsqWarning):
        print(f"csq-hw: warning: {' '.join(str(message).split())}", file=sys.stderr)
    elif issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
        return  # another package's future plans (numba, hls4ml, torch): nothing a csq-hw user can act on
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
