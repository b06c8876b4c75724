"""Dataclass fields that describe themselves: help, unit, closed choices and the flat name of a config option.

A config section is a frozen dataclass whose fields are made with :func:`option`; :func:`options_of` walks a tree of
such sections and gives one :class:`OptionInfo` per leaf. The CLI flags (``--max-bits``), their help with defaults
and units, the TOML reader and writer are all generated from these (:mod:`csq_hw.train.config`,
:mod:`csq_hw.cli.config_args`), so an option is declared once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass
from typing import Any

__all__ = ["option", "OptionInfo", "options_of"]


def option(
    default: Any = MISSING,
    *,
    help: str,  # noqa: A002 - argparse's word
    unit: str = "",
    choices: Sequence[str] | None = None,
    flag: str | None = None,
    default_text: str | None = None,
    default_factory: Callable[[], Any] | Any = MISSING,
    config: bool = True,
    list_join: str | None = None,
) -> Any:
    """A dataclass field with its documentation.

    Args:
        default, default_factory: as :func:`dataclasses.field`.
        help: one phrase for ``--help`` and the TOML docs, without the default (added from ``default``).
        unit: the value's unit (``"epoch"``, ``"bit"``, ``"sample"``), shown after the default.
        choices: the closed set of values, when there is one (argparse ``choices``; checked when read).
        flag: the flat name when it differs from the field name (``model.name`` is ``--model``/``model=``).
        default_text: words for a default that is computed (``None`` meaning "a third of the epochs").
        config: False for fields set by code, never read from TOML or flags.
        list_join: a string option that TOML may also give as a list of strings, joined with this separator
            (``budget = ["lut=20000", "latency:bismo=4e4"]`` is ``"lut=20000;latency:bismo=4e4"``).
    """
    meta = {"help": help, "unit": unit, "choices": tuple(choices) if choices else None, "flag": flag,
            "default_text": default_text, "config": config, "list_join": list_join}  # fmt: skip
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class OptionInfo:
    """One leaf option of a config tree.

    Attributes:
        section: the TOML table (the section field's name, e.g. ``"quant"``); ``""`` for a flat dataclass.
        key: the field name inside its section (the TOML key).
        flat: the flat name: ``load_config``/``replace`` keyword and CLI flag (``--`` + dashes), unique in the tree.
        type: the field's annotation as text (``"int"``, ``"float | None"``, ``"int | str"``, ``"dict[str, Any]"``).
        default: the default value (a fresh one from the factory where there is one).
        help, unit, choices, default_text, list_join: from :func:`option`.
    """

    section: str
    key: str
    flat: str
    type: str
    default: Any
    help: str
    unit: str = ""
    choices: tuple[str, ...] | None = None
    default_text: str | None = None
    list_join: str | None = None

    @property
    def optional(self) -> bool:
        """Whether the option may be None (its annotation ends in ``| None``)."""
        return self.type.replace(" ", "").endswith("|None")

    @property
    def value_type(self) -> str:
        """The annotation without ``| None`` and spaces: ``"int"``, ``"float"``, ``"int|str"``, ``"dict[str,Any]"``."""
        return self.type.replace(" ", "").removesuffix("|None")

    @property
    def cli_flag(self) -> str:
        return "--" + self.flat.replace("_", "-")

    def describe_default(self) -> str:
        """``8 bit``, ``"size=u4"``, or the computed default's words."""
        if self.default_text is not None:
            return self.default_text
        value = self.default
        if isinstance(value, bool):
            text = "on" if value else "off"
        elif value is None:
            text = "none"
        elif isinstance(value, dict):
            text = "{}" if not value else str(value)
        else:
            text = str(value)
        return f"{text} {self.unit}" if self.unit and not isinstance(value, (bool, type(None))) else text


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def options_of(config_type: type) -> list[OptionInfo]:
    """Every configurable leaf of ``config_type``: a dataclass of section dataclasses (one level of nesting) or a
    flat dataclass of :func:`option` fields. Order: sections in field order, then fields in order."""
    out: list[OptionInfo] = []
    for f in dataclasses.fields(config_type):
        if f.default_factory is not MISSING and dataclasses.is_dataclass(section := f.default_factory()):
            for leaf in dataclasses.fields(section):
                if leaf.metadata.get("config", True) and "help" in leaf.metadata:
                    out.append(_info(f.name, leaf))
        elif f.metadata.get("config", True) and "help" in f.metadata:
            out.append(_info("", f))
    flats = [o.flat for o in out]
    if len(set(flats)) != len(flats):  # pragma: no cover - a programming error in a config declaration
        raise ValueError(f"flat option names repeat in {config_type.__name__}: {sorted(flats)}")
    return out


def _info(section: str, f: dataclasses.Field) -> OptionInfo:
    m = f.metadata
    return OptionInfo(section=section, key=f.name, flat=m.get("flag") or f.name, type=str(f.type),
                      default=_default_of(f), help=m["help"], unit=m.get("unit", ""), choices=m.get("choices"),
                      default_text=m.get("default_text"), list_join=m.get("list_join"))  # fmt: skip
