"""Training configuration: one frozen dataclass, read from TOML sections and/or overridden by flags.

TOML layout (every key optional; unknown keys are an error)::

    [model]
    name = "digits-mlp"        # jet-mlp | digits-mlp | digits-cnn | mnist1d-cnn | resnet20
    max_bits = 8               # N bit positions per weight
    act_bits = 8               # or "search"
    [data]
    dataset = "digits"         # digits | mnist1d | jets | cifar10 | npz:PATH
    batch_size = 64
    [train]
    epochs = 30
    seed = 0
    [budget]
    spec = "size=u3"           # KIND=VALUE, VALUE absolute or uN
    strength = 2.0             # lambda
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .bitplane_weight import STEP_RULES
from .convert import QuantConfig
from .errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["TrainConfig", "load_config", "config_to_toml", "PLANE_DTYPES", "FINETUNE_MODES"]

# storage dtype of the bit-plane logits (the weight is always built in float32); see docs/distributed.md
PLANE_DTYPES = ("float32", "bfloat16")  # float16: Adam states underflow (NaN)
# the hand-over at the ticket: "ste" = fresh-schedule fine-tune of float shadow weights projected onto the selected
# signed-digit values (default); "planes" = the paper's hard phase (hard digits, gradients through the sigmoids)
FINETUNE_MODES = ("ste", "planes")

_SECTIONS: dict[str, tuple[str, ...]] = {
    "model": (
        "model",
        "model_kwargs",
        "max_bits",
        "act_bits",
        "act_max_bits",
        "act_min_bits",
        "weight_step",
        "mask_init",
        "plane_init",
        "bias_bits",
        "first_layer",
        "last_layer",
        "uniform",
        "qat",
        "plane_dtype",
    ),
    "data": ("dataset", "data_dir", "batch_size"),
    "train": (
        "epochs",
        "pretrain_epochs",
        "settle_epochs",
        "ticket_epoch",
        "finetune",
        "finetune_lr",
        "finetune_step",
        "finetune_init",
        "initial_temperature",
        "final_temperature",
        "optimizer",
        "lr",
        "weight_decay",
        "seed",
        "device",
        "amp",
    ),
    "budget": ("budget", "strength"),
}
# TOML key inside its section -> field name, where they differ
_RENAME = {("model", "name"): "model", ("model", "kwargs"): "model_kwargs", ("budget", "spec"): "budget"}


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``csq-hw train`` needs. Units: epochs, samples per batch, learning rate per step."""

    model: str = "digits-mlp"
    model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    max_bits: int = 8
    act_bits: int | str = 8
    act_max_bits: int = 8
    act_min_bits: int = 2
    weight_step: str = "pow2"
    mask_init: float = 0.0
    plane_init: float = 0.5
    bias_bits: int = 16
    first_layer: str = "search"
    last_layer: str = "search"
    uniform: bool = False
    qat: bool = False
    plane_dtype: str = "float32"
    dataset: str = "digits"
    data_dir: str | None = None
    batch_size: int = 64
    epochs: int = 30
    ticket_epoch: int | None = None
    finetune: str = "ste"
    finetune_lr: float | None = None
    finetune_step: str = "mse"
    finetune_init: str = "rewind"
    pretrain_epochs: int = 0
    settle_epochs: int = 0
    initial_temperature: float = 1.0
    final_temperature: float = 200.0
    optimizer: str = "adam"
    lr: float = 0.01
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: str = "off"
    budget: str = "size=u4"
    strength: float = 2.0

    def __post_init__(self) -> None:
        for f in fields(self):  # NaN passes every "<" check below, and inf trains to NaN: refuse both first
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"{f.name}={value}; give a finite number")
        if self.epochs < 1:
            raise UserError(f"epochs={self.epochs}; give at least 1")
        if self.ticket_epoch is not None and not 0 <= self.ticket_epoch <= self.epochs:
            raise UserError(f"ticket_epoch={self.ticket_epoch} must lie in 0..epochs ({self.epochs})")
        if not 0 <= self.settle_epochs <= self.ticket:
            raise UserError(f"settle_epochs={self.settle_epochs}; give 0..ticket epoch ({self.ticket})")
        if self.pretrain_epochs < 0:
            raise UserError(f"pretrain_epochs={self.pretrain_epochs}; give 0 (random init, as the paper) or more")
        if self.batch_size < 1:
            raise UserError(f"batch_size={self.batch_size}; give at least 1")
        if not self.lr > 0:
            raise UserError(f"lr={self.lr}; give a positive learning rate")
        if self.optimizer not in ("adam", "sgd"):
            raise UserError(f"optimizer={self.optimizer!r}; use 'adam' or 'sgd'")
        if not 0 < self.initial_temperature <= self.final_temperature:
            raise UserError(
                f"initial_temperature={self.initial_temperature}; give a value in (0, final_temperature] (default 1)"
            )
        if not self.final_temperature >= 1:
            raise UserError(f"final_temperature={self.final_temperature}; give a value >= 1 (default 200)")
        if self.plane_dtype not in PLANE_DTYPES:
            raise UserError(f"plane_dtype={self.plane_dtype!r}; use one of {', '.join(PLANE_DTYPES)}")
        if self.amp not in ("off", "bf16"):
            raise UserError(f"amp={self.amp!r}; use 'off' or 'bf16' (autocast on CUDA)")
        if self.finetune not in FINETUNE_MODES:
            raise UserError(f"finetune={self.finetune!r}; use one of {', '.join(FINETUNE_MODES)}")
        if self.finetune_step not in STEP_RULES:
            raise UserError(f"finetune_step={self.finetune_step!r}; use 'mse', 'maxabs' or 'search' (keep the step)")
        if self.finetune_init not in ("search", "rewind"):
            raise UserError(
                f"finetune_init={self.finetune_init!r}; use 'search' (the soft search weights) or 'rewind' "
                "(the float weights the CSQ model was built from)"
            )
        if self.finetune_lr is not None and not self.finetune_lr > 0:
            raise UserError(f"finetune_lr={self.finetune_lr}; give a positive learning rate")
        if self.qat and self.act_bits == "search":
            raise UserError('qat (the uniform QAT baseline) needs a fixed act_bits, not "search"')
        if self.strength < 0:
            raise UserError(f"strength={self.strength}; give a non-negative budget strength")
        self.quant_config()  # validates the quantization fields

    @property
    def ticket(self) -> int:
        """First epoch of the hard phase. Default: a third of the epochs with the straight-through fine-tune (the
        search only has to pick the precisions; the fine-tune trains the exact model), 80 % with ``finetune =
        "planes"`` (the paper's short hard phase)."""
        if self.ticket_epoch is not None:
            return self.ticket_epoch
        share = 0.8 if self.finetune == "planes" else 1 / 3
        return max(1, min(self.epochs, round(share * self.epochs)))

    @property
    def searched(self) -> bool:
        """The precision is searched under the budget (CSQ), not fixed (the ``uniform`` or ``qat`` baselines)."""
        return not (self.uniform or self.qat)

    @property
    def finetune_learning_rate(self) -> float:
        """Base learning rate of the fine-tune's fresh cosine: ``finetune_lr``, or ``2 * lr`` when unset (measured
        best of 1x, 2x and 3x with Adam on MNIST-1D and digits; docs/results_mnist1d.md)."""
        return 2.0 * self.lr if self.finetune_lr is None else self.finetune_lr

    def quant_config(self, full_precision: tuple[str, ...] = ()) -> QuantConfig:
        return QuantConfig(
            max_bits=self.max_bits,
            act_bits=self.act_bits,
            act_max_bits=self.act_max_bits,
            act_min_bits=self.act_min_bits,
            weight_step=self.weight_step,
            mask_init=self.mask_init,
            plane_init=self.plane_init,
            bias_bits=self.bias_bits,
            first_layer=self.first_layer,
            last_layer=self.last_layer,
            full_precision=full_precision,
            uniform=not self.searched,
        )

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, value: Any) -> Any:
    """Check a TOML/flag value against the field's type; one-line error otherwise."""
    default = {f.name: f for f in fields(TrainConfig)}[name].default
    if name == "act_bits":
        if value == "search" or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise UserError(f'config act_bits={value!r}; give an integer or "search"')
    if name == "model_kwargs":
        if not isinstance(value, dict):
            raise UserError("config [model] kwargs must be a table")
        return dict(value)
    if value is None:
        return None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"config {name}={value!r} must be true or false")
        return value
    if default is None or isinstance(default, str):
        if name == "ticket_epoch" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if name == "finetune_lr" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, str):
            raise UserError(f"config {name}={value!r} must be a string")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"config {name}={value!r} must be an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"config {name}={value!r} must be a number")
        return float(value)
    return value


def _home_of(key: str) -> str:
    """Where a top-level key of a flat TOML belongs: ``put it under [model] as name = ...``."""
    inverse = {field: (section, toml_key) for (section, toml_key), field in _RENAME.items()}
    for section, names in _SECTIONS.items():
        if key in names:
            section, toml_key = inverse.get(key, (section, key))
            return f"put it under [{section}] as {toml_key} = ..."
    return f"keys belong to the sections {', '.join(f'[{s}]' for s in _SECTIONS)} (see configs/*.toml)"


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Read a TOML config (optional) and apply ``overrides`` (``None`` values are ignored)."""
    values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"config file {p} not found; check the path or drop --config")
        try:
            doc = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(
                f"config file {p} is not valid TOML ({' '.join(str(exc).split())}); fix the syntax"
            ) from None
        for section, table in doc.items():
            if section == "out":
                continue
            if not isinstance(table, dict):
                raise UserError(f"config file {p}: key {section!r} stands outside any section; {_home_of(section)}")
            if section not in _SECTIONS:
                raise UserError(f"config file {p}: unknown section [{section}]; use {', '.join(_SECTIONS)}")
            for key, value in table.items():
                name = _RENAME.get((section, key), key)
                if name not in _SECTIONS[section]:
                    raise UserError(f"config file {p}: unknown key {key!r} in [{section}]")
                values[name] = _coerce(name, value)
    for name, value in overrides.items():
        if value is not None:
            values[name] = _coerce(name, value)
    return TrainConfig(**values)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def config_to_toml(cfg: TrainConfig) -> str:
    """The resolved config as TOML (``None`` values left out), readable back by :func:`load_config`."""
    inverse = {v: k for k, v in _RENAME.items()}
    lines = ["# csq-hw resolved training configuration"]
    for section, names in _SECTIONS.items():
        lines.append(f"\n[{section}]")
        for name in names:
            value = getattr(cfg, name)
            if value is None:
                continue
            key = inverse.get(name, (section, name))[1]
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
