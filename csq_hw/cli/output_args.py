"""Output flags shared by several commands: ``--log-format`` (train, demo, sweep, export) and ``--format`` (cost)."""

from __future__ import annotations

import argparse

__all__ = ["LOG_FORMATS", "TABLE_FORMATS", "add_log_format_arg", "add_table_format_arg"]

LOG_FORMATS = ("bar", "plain")  # csq_hw.runtime.progress.LOG_FORMATS (not imported: --help stays light)
TABLE_FORMATS = ("table", "csv", "json", "md")


def add_log_format_arg(parser: argparse.ArgumentParser) -> None:
    """``--log-format bar|plain`` -> ``args.log_format`` (default ``bar``)."""
    parser.add_argument(
        "--log-format",
        dest="log_format",
        choices=LOG_FORMATS,
        default="bar",
        help="progress on stderr: bar (default: tqdm bars, a per-step bar inside long epochs) or plain (one line per "
        "epoch, sweep point or export step, no bars: for batch logs)",
    )


def add_table_format_arg(parser: argparse.ArgumentParser) -> None:
    """``--format table|csv|json|md`` -> ``args.format`` (default ``table``); ``--json`` is ``--format json``."""
    parser.add_argument(
        "--format",
        dest="format",
        choices=TABLE_FORMATS,
        default="table",
        help="table (default: aligned, units in the header), csv, json (numbers as numbers, null where undefined) "
        "or md (a GitHub Markdown table)",
    )
    parser.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
