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
    "upgrade-run": "upgrade_cmd",
}


def _load(module: str):
    return importlib.import_module(f"csq_hw.cli.{module}")


class _UsageError(Exception):
    """A bad flag or value found by argparse; :func:`main` prints it as one line."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line ``csq-hw: error: ...; see 'csq-hw train --help'`` and exit 2
    (argparse prints the whole usage block first); ``--help`` and ``--version`` behave as usual."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{message}; see '{self.prog} --help'")


def _version() -> str:
    """The installed distribution's version (without importing torch through ``csq_hw``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("csq-hw")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree that was never installed
        return "unknown (not installed)"


def _suggest_command(argv: Sequence[str]) -> str | None:
    """``csq-hw trian``: the one-line error with the closest subcommand, or None when argv is fine."""
    import difflib

    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None or first in SUBCOMMANDS:
        return None
    close = difflib.get_close_matches(first, list(SUBCOMMANDS), n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown command {first!r}; {hint}commands: {', '.join(SUBCOMMANDS)}"


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="csq-hw",
        description="Hardware-aware mixed-precision quantization (CSQ) with FPGA/ASIC budgets and hls4ml export.",
    )
    parser.add_argument("--version", action="version", version=f"csq-hw {_version()}")
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
    from csq_hw.errors import UserError

    parser = build_parser()
    wrong = _suggest_command(sys.argv[1:] if argv is None else list(argv))
    if wrong is not None:
        print(f"csq-hw: error: {wrong}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(f"csq-hw: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
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
    from csq_hw.errors import CsqWarning

    if issubclass(category, CsqWarning):
        print(f"csq-hw: warning: {' '.join(str(message).split())}", file=sys.stderr)
    elif issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
        return  # another package's future plans (numba, hls4ml, torch): nothing a csq-hw user can act on
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
