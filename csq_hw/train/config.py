"""Training configuration: one frozen dataclass of sections, read from TOML and/or flat overrides (flags).

TOML layout (every key optional; unknown keys are an error; ``csq-hw train --help`` lists every key with its
default and unit, generated from the same declarations)::

    [model]
    name = "digits-mlp"        # a zoo name, mlp:64,32, cnn2d:8,16, PATH.py:FUNC, package.module:FUNC
    kwargs = { channels = [4, 8] }
    [quant]                    # csq_hw.QuantConfig
    max_bits = 8               # N bit positions per weight
    act_bits = 8               # or "search"
    [data]
    dataset = "digits"         # digits | mnist1d | jets | cifar10 | imagenet | npz:PATH
    batch_size = 64
    [train]
    epochs = 30
    seed = 0
    [budget]
    spec = "size=u3"           # KIND=VALUE, VALUE absolute or uN
    strength = 2.0             # lambda

The 0.1 layout, with the ``[quant]`` keys and ``uniform``/``qat``/``plane_dtype`` under ``[model]``, is still read.
Every option also has a flat name, unique across sections (``max_bits``, ``model`` for ``[model] name``, ``budget``
for ``[budget] spec``): the keyword of :func:`load_config`, :meth:`TrainConfig.from_flat` and
:meth:`TrainConfig.replace`, and the CLI flag (``--max-bits``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from csq_hw.errors import UserError
from csq_hw.option_fields import OptionInfo, options_of
from csq_hw.quant.convert import QuantConfig
from csq_hw.train.config_sections import (
    FINETUNE_MODES,
    PLANE_DTYPES,
    BudgetOptions,
    DataOptions,
    ModelOptions,
    TrainOptions,
    check_value,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["TrainConfig", "load_config", "config_to_toml", "config_options", "PLANE_DTYPES", "FINETUNE_MODES"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``csq-hw train`` needs, in sections that mirror the TOML tables.

    Build it from flat names (``TrainConfig.from_flat(model="digits-mlp", budget="size=u3", epochs=30)``), from a
    TOML file (:func:`load_config`) or from sections. Read it by section: ``cfg.model.name``, ``cfg.quant.max_bits``,
    ``cfg.data.batch_size``, ``cfg.train.epochs``, ``cfg.budget.spec``.
    """

    model: ModelOptions = field(default_factory=ModelOptions)
    quant: QuantConfig = field(default_factory=QuantConfig)
    data: DataOptions = field(default_factory=DataOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    budget: BudgetOptions = field(default_factory=BudgetOptions)

    def __post_init__(self) -> None:
        for o in config_options():  # QuantConfig leaves NaN to the layers; refuse it here with the option's name
            value = getattr(getattr(self, o.section), o.key)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"{o.flat}={value}; give a finite number")
        if self.train.qat and self.quant.act_bits == "search":
            raise UserError('qat (the uniform QAT baseline) needs a fixed act_bits, not "search"')
        self.quant_config()  # the quantization fields with this run's method

    @classmethod
    def from_flat(cls, **values: Any) -> TrainConfig:
        """A config from flat names (``epochs=3``, ``model="mlp:64"``, ``budget="lut=2e4"``); the rest default."""
        return cls().replace(**values)

    def to_flat(self) -> dict[str, Any]:
        """``{flat name: value}`` for every option (what checkpoints store and resume compares)."""
        return {o.flat: getattr(getattr(self, o.section), o.key) for o in config_options()}

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with options replaced by flat name (``cfg.replace(seed=1, budget="bops=2e5")``)."""
        by_flat = {o.flat: o for o in config_options()}
        per_section: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            if name not in by_flat:
                raise UserError(f"unknown config option {name!r}{_did_you_mean(name, by_flat)}")
            o = by_flat[name]
            per_section.setdefault(o.section, {})[o.key] = value
        sections = {s: dataclasses.replace(getattr(self, s), **kv) for s, kv in per_section.items()}
        return dataclasses.replace(self, **sections)

    @property
    def searched(self) -> bool:
        """The precision is searched under the budget (CSQ), not fixed (the ``uniform`` or ``qat`` baselines)."""
        return self.train.searched

    def quant_config(self, full_precision: tuple[str, ...] = ()) -> QuantConfig:
        """The :class:`QuantConfig` the model is converted with: ``[quant]`` plus what the method and model fix, and
        an unset ``mask_init`` resolved: 0.5 after a float warm start (every mask at sigmoid(T 0.5), 0.99 at T = 10:
        the converted model starts as the float one), else 0 (the paper's)."""
        mask_init = self.quant.mask_init
        if mask_init is None:
            mask_init = 0.5 if self.train.warm_start_epochs else 0.0
        return dataclasses.replace(
            self.quant, full_precision=tuple(full_precision), uniform=not self.searched, mask_init=mask_init
        )


RESOLVED_HEADER = "# csq-hw resolved training configuration"  # first line of every config.toml csq-hw writes


def config_options() -> list[OptionInfo]:
    """Every option of :class:`TrainConfig` (section, key, flat name, type, default, help, unit, choices)."""
    return options_of(TrainConfig)


# options added after csq-hw had written resolved configs: such a file lacks them (their default applies)
ADDED_LATER = {
    ("train", "compile"),
    ("train", "plane_adam_state"),
    ("train", "plane_step_in_backward"),
    ("quant", "act_range"),
    ("budget", "pricing"),
    ("train", "freeze_share"),
}
# ... unless the default changed since: a resolved config that lacks one of these was trained with this value
WRITTEN_BEFORE_DEFAULT_CHANGED = {("quant", "act_range"): "calibrated", ("train", "freeze_share"): 0.0}

# 0.1 layout: these keys lived under [model]
_LEGACY_MODEL_KEYS = {o.key: o for o in options_of(TrainConfig) if o.section == "quant"} | {
    o.key: o for o in options_of(TrainConfig) if o.key in ("uniform", "qat", "plane_dtype")
}


def _did_you_mean(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _home_of(key: str) -> str:
    """Where a top-level key of a flat TOML belongs: ``put it under [model] as name = ...``."""
    for o in config_options():
        if key in (o.key, o.flat):
            return f"put it under [{o.section}] as {o.key} = ..."
    sections = dict.fromkeys(o.section for o in config_options())
    return f"keys belong to the sections {', '.join(f'[{s}]' for s in sections)} (see configs/*.toml)"


def _read_toml(p: Path) -> dict[str, Any]:
    """``{flat name: value}`` from a TOML config file; one-line errors naming the file, section and key."""
    if not p.is_file():
        raise UserError(f"config file {p} not found; check the path or drop --config")
    try:
        doc = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"config file {p} is not valid TOML ({' '.join(str(exc).split())}); fix the syntax") from None
    by_place = {(o.section, o.key): o for o in config_options()}
    sections = dict.fromkeys(o.section for o in config_options())
    if p.read_text().startswith(RESOLVED_HEADER):  # written by csq-hw with every option: a missing one means damage
        legacy = {k for k in doc.get("model", {}) if k in _LEGACY_MODEL_KEYS}  # the 0.1 layout
        optional = {(o.section, o.key) for o in config_options() if o.optional}
        optional |= ADDED_LATER  # options newer than some written configs: their default applies
        missing = [f"[{s}] {k}" for s, k in by_place if k not in doc.get(s, {}) and k not in legacy
                   and (s, k) not in optional]  # fmt: skip
        if missing:
            raise UserError(f"config file {p} was written by csq-hw but lacks {', '.join(missing[:3])}"
                            f"{' ...' if len(missing) > 3 else ''}: it is truncated or damaged; restore it or "
                            "write the settings you want as flags")  # fmt: skip
    values: dict[str, Any] = {}
    if p.read_text().startswith(RESOLVED_HEADER):
        for (section, key), value in WRITTEN_BEFORE_DEFAULT_CHANGED.items():
            if key not in doc.get(section, {}):
                values[by_place[section, key].flat] = value
    for section, table in doc.items():
        if section == "out":
            continue
        if not isinstance(table, dict):
            raise UserError(f"config file {p}: key {section!r} stands outside any section; {_home_of(section)}")
        if section not in sections:
            raise UserError(
                f"config file {p}: unknown section [{section}]{_did_you_mean(section, sections)}; "
                f"use {', '.join(sections)}"
            )
        for key, value in table.items():
            o = by_place.get((section, key)) or (_LEGACY_MODEL_KEYS.get(key) if section == "model" else None)
            if o is None:
                keys = [k for s, k in by_place if s == section]
                elsewhere = [f"[{s}]" for s, k in by_place if k == key]
                hint = f"; it belongs under {elsewhere[0]}" if elsewhere else _did_you_mean(key, keys)
                raise UserError(f"config file {p}: unknown key {key!r} in [{section}]{hint}")
            values[o.flat] = check_value(o, value, f"config file {p}: [{section}] {key}")
    return values


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Read a TOML config (optional) and apply flat ``overrides`` (``None`` values are ignored)."""
    values = _read_toml(Path(path)) if path is not None else {}
    by_flat = {o.flat: o for o in config_options()}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in by_flat:
            raise UserError(f"unknown config option {name!r}{_did_you_mean(name, by_flat)}")
        values[name] = check_value(by_flat[name], value, name)
    return TrainConfig.from_flat(**values)


def config_to_toml(cfg: TrainConfig) -> str:
    """The resolved config as TOML (``None`` values left out), readable back by :func:`load_config`."""
    doc: dict[str, dict[str, Any]] = {}
    for o in config_options():
        value = getattr(getattr(cfg, o.section), o.key)
        table = doc.setdefault(o.section, {})
        if value is not None:
            table[o.key] = value
    return RESOLVED_HEADER + "\n\n" + tomli_w.dumps(doc)
