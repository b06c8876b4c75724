"""CLI flags generated from the training config's declarations (:func:`csq_hw.train.config.config_options`).

One flag per option: ``--max-bits`` for ``[quant] max_bits``, help with the default and unit, argparse ``choices``
where the values are closed, ``--flag/--no-flag`` for booleans, a JSON object for tables. Every flag defaults to
``None`` ("not given"), so a TOML config and then the flags build the config: :func:`config_from_args`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

__all__ = ["add_config_arguments", "config_from_args", "SECTION_TITLES"]

SECTION_TITLES = {
    "model": "model ([model] in the TOML config)",
    "quant": "quantization ([quant])",
    "data": "data ([data])",
    "train": "schedule, optimizer and method ([train])",
    "budget": "budget ([budget])",
}


def _act_bits(text: str) -> int | str:
    if text == "search":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"act_bits {text!r}: give an integer or 'search'") from None


def _json_table(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"not JSON ({exc.msg}); give an object, e.g. '{{\"channels\": [4, 8]}}'"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("give a JSON object, e.g. '{\"channels\": [4, 8]}'")
    return value


def _argparse_type(kind: str):  # noqa: ANN202 - an argparse type callable
    """The argparse ``type`` of an option's value type (:attr:`~csq_hw.option_fields.OptionInfo.value_type`)."""
    return {"int": int, "float": float, "int|str": _act_bits}.get(kind, _json_table if kind.startswith("dict") else str)


def add_config_arguments(
    parser: argparse.ArgumentParser,
    exclude: Iterable[str] = (),
    only: Iterable[str] | None = None,
    defaults: dict[str, Any] | None = None,
) -> list[str]:
    """Add a flag per config option to ``parser``, grouped by section; returns the flat names added.

    Args:
        exclude: flat names left out (``sweep`` sets ``budget`` itself).
        only: the flat names to add (all when None).
        defaults: shown defaults that differ from the config's (``demo``'s recipe); the flag still defaults to None.
    """
    from csq_hw.train.config import config_options

    skip, keep, shown = set(exclude), None if only is None else set(only), defaults or {}
    groups: dict[str, argparse._ArgumentGroup] = {}
    added = []
    for o in config_options():
        if o.flat in skip or (keep is not None and o.flat not in keep):
            continue
        group = groups.get(o.section) or groups.setdefault(
            o.section, parser.add_argument_group(SECTION_TITLES.get(o.section, o.section))
        )
        default = shown.get(o.flat)
        default_words = o.describe_default() if default is None else str(default)
        listed = _registered().get(o.flat)
        text = f"{listed + ' | ' if listed else ''}{o.help} (default: {default_words})".replace("%", "%%")
        if o.value_type == "bool":
            group.add_argument(o.cli_flag, dest=o.flat, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            group.add_argument(o.cli_flag, dest=o.flat, type=_argparse_type(o.value_type), choices=o.choices,
                               default=None, metavar=_metavar(o), help=text)  # fmt: skip
        added.append(o.flat)
    return added


def _registered() -> dict[str, str]:
    """Names known at run time, listed in the help of ``--model`` and ``--dataset``."""
    from csq_hw.data import DATASETS
    from csq_hw.zoo.models import MODELS

    return {"model": " | ".join(MODELS), "dataset": " | ".join(DATASETS)}


def _metavar(o) -> str | None:  # noqa: ANN001
    if o.choices:
        return "{" + ",".join(o.choices) + "}"
    kind = o.value_type
    return {"int": "N", "float": "X", "int|str": "N|search"}.get(kind, "JSON" if kind.startswith("dict") else None)


def config_from_args(args: argparse.Namespace, names: Iterable[str], **extra: Any):  # noqa: ANN201
    """The :class:`~csq_hw.train.config.TrainConfig` of ``--config`` (when given) with the given flags applied."""
    from csq_hw.train.config import load_config

    overrides = {name: getattr(args, name) for name in names} | extra
    return load_config(getattr(args, "config", None), **overrides)
