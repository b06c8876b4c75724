"""The sections of :class:`csq_hw.train.config.TrainConfig` besides ``[quant]`` (:class:`csq_hw.QuantConfig`), each a
frozen dataclass of self-describing options (:func:`csq_hw.option_fields.option`) that checks its own values, and
:func:`check_value`, the type check of one value read from TOML or a flag."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from cost_models import BudgetSpec, CostError
from csq_hw.errors import UserError
from csq_hw.option_fields import OptionInfo, option
from csq_hw.quant.bitplane_weight import STEP_RULES
from csq_hw.quant.temperature import scheduled_temperature

__all__ = [
    "ModelOptions",
    "DataOptions",
    "TrainOptions",
    "BudgetOptions",
    "check_value",
    "PLANE_DTYPES",
    "FINETUNE_MODES",
    "FINETUNE_STARTS",
    "WARM_START_SHARE",
]

# storage dtype of the bit-plane logits (the weight is always built in float32); see docs/distributed.md
PLANE_DTYPES = ("float32", "bfloat16")  # float16: Adam states underflow (NaN)
# the hand-over at the ticket: "ste" = fresh-schedule fine-tune of float shadow weights projected onto the selected
# signed-digit values (default); "planes" = the paper's hard phase (hard digits, gradients through the sigmoids)
FINETUNE_MODES = ("ste", "planes")
# where the straight-through fine-tune's shadow weights start (csq_hw.train.recipe picks one when unset)
FINETUNE_STARTS = ("rewind", "search")
#: the warm start's share of ``epochs`` when ``pretrain_epochs`` is unset (measured: docs/results_suite.md)
WARM_START_SHARE = 1 / 3


def _finite(section: object) -> None:
    for f in fields(section):  # NaN passes every "<" check, and inf trains to NaN: refuse both first
        value = getattr(section, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{f.name}={value}; give a finite number")


@dataclass(frozen=True)
class ModelOptions:
    """``[model]``: which float network is trained."""

    name: str = option(
        "digits-mlp",
        flag="model",
        help="a zoo name, mlp:H1,H2 | cnn1d:C1,C2 | cnn2d:C1,C2 (sized by the data), PATH.py:FUNC or "
        "package.module:FUNC (FUNC(input_shape, n_classes) -> nn.Module); docs/api.md",
    )
    kwargs: dict[str, Any] = option(
        default_factory=dict,
        flag="model_kwargs",
        default_text="none",
        help="keyword arguments of the model builder (a TOML table; on the command line "
        "a JSON object, e.g. '{\"quantize_shortcuts\": true}')",
    )


@dataclass(frozen=True)
class DataOptions:
    """``[data]``: the data set and how it is batched."""

    dataset: str = option("digits", help="a shipped data set, or npz:PATH for your own arrays (docs/api.md)")
    data_dir: str | None = option(None, help="directory with local data (jets file, CIFAR-10 batches, ImageNet folder)")
    batch_size: int = option(64, unit="sample", help="samples per step")

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UserError(f"batch_size={self.batch_size}; give at least 1")


@dataclass(frozen=True)
class TrainOptions:
    """``[train]``: the schedule, the optimizer, the method (CSQ or a baseline) and where it runs."""

    epochs: int = option(30, unit="epoch", help="CSQ epochs (search + hand-over + fine-tune)")
    ticket_epoch: int | None = option(
        None, unit="epoch", default_text="a third of the epochs; 80% with planes", help="first hard-phase epoch"
    )
    finetune: str = option(
        "ste",
        choices=FINETUNE_MODES,
        help="hand-over at the ticket: ste (fresh-schedule straight-through fine-tune of float "
        "weights on the selected signed-digit values) or planes (the paper's hard phase)",
    )
    finetune_lr: float | None = option(None, default_text="2 x lr", help="base learning rate of the fine-tune's cosine")
    finetune_step: str = option(
        "mse",
        choices=STEP_RULES,
        help="fine-tune (and qat) weight step: the power of two of least squared error (mse), "
        "per-tensor max-abs (maxabs) or the searched step (search)",
    )
    finetune_init: str | None = option(
        None,
        choices=FINETUNE_STARTS,
        default_text="rewind after a warm start, else search",
        help="fine-tune weights start at the float weights the run started from (rewind) or "
        "at the soft search weights (search); the hand-over guard may switch a start that is far worse",
    )
    pretrain_epochs: int | None = option(
        None,
        unit="epoch",
        default_text="a third of the epochs",
        help="float warm-start epochs before the CSQ epochs (0: random init, as the paper)",
    )
    settle_epochs: int = option(
        0, unit="epoch", help="last search epochs without the budget term: masks saturate before they harden"
    )
    freeze_share: float = option(
        0.5,
        help="share of the straight-through epochs, at the end, that train against frozen weight steps and "
        "activation ranges (0: they move to the last step)",
    )
    initial_temperature: float | None = option(
        None, default_text="10 after a warm start, else 1 (the paper's)", help="temperature T at epoch 0"
    )
    final_temperature: float = option(200.0, help="temperature T at the end of the search")
    optimizer: str = option("adam", choices=("adam", "sgd"), help="optimizer")
    lr: float = option(0.01, help="learning rate per step")
    weight_decay: float = option(0.0, help="weight decay (L2) of the optimizer")
    seed: int = option(0, help="seed of the model init, the data order and the hand-over batch")
    device: str = option("auto", help="auto, cpu, cuda or cuda:N (under torchrun: cuda:LOCAL_RANK per process)")
    amp: str = option("off", choices=("off", "bf16"), help="autocast the float parts on CUDA")
    plane_dtype: str = option(
        "float32", choices=PLANE_DTYPES, help="storage dtype of the bit planes (docs/distributed.md)"
    )
    plane_adam_state: str = option(
        "float32",
        choices=("float32", "bfloat16"),
        help="storage dtype of Adam's two moments for the bit planes; bfloat16 (stochastically rounded) saves 64 "
        "bytes per weight at max_bits 8 (docs/distributed.md)",
    )
    plane_step_in_backward: bool = option(
        False,
        help="update each bit-plane tensor inside backward and drop its gradient at once (64 bytes per weight "
        "less at max_bits 8; one process only; docs/distributed.md)",
    )
    compile: bool = option(
        False, help="run each step's forward pass through torch.compile (faster steps after a compile of seconds)"
    )
    uniform: bool = option(False, help="bit-plane baseline at fixed max_bits/act_bits (an ablation), nothing searched")
    qat: bool = option(
        False,
        help="plain uniform QAT baseline instead of CSQ: max_bits weight bits, act_bits "
        "activation bits, straight-through rounding of float weights",
    )

    def __post_init__(self) -> None:
        _finite(self)
        if self.epochs < 1:
            raise UserError(f"epochs={self.epochs}; give at least 1")
        if self.ticket_epoch is not None and not 0 <= self.ticket_epoch <= self.epochs:
            raise UserError(f"ticket_epoch={self.ticket_epoch} must lie in 0..epochs ({self.epochs})")
        if not 0 <= self.settle_epochs <= self.ticket:
            raise UserError(f"settle_epochs={self.settle_epochs}; give 0..ticket epoch ({self.ticket})")
        if not 0 <= self.freeze_share < 1:
            raise UserError(f"freeze_share={self.freeze_share}; give a share in [0, 1) (default 0.5, 0 turns it off)")
        if self.pretrain_epochs is not None and self.pretrain_epochs < 0:
            raise UserError(f"pretrain_epochs={self.pretrain_epochs}; give 0 (random init, as the paper) or more")
        if not self.lr > 0:
            raise UserError(f"lr={self.lr}; give a positive learning rate")
        if self.plane_adam_state != "float32" and self.optimizer != "adam":
            raise UserError(f"plane_adam_state={self.plane_adam_state} needs optimizer adam (got {self.optimizer})")
        if self.plane_step_in_backward and self.optimizer != "adam":
            raise UserError(f"plane_step_in_backward needs optimizer adam (got {self.optimizer})")
        if self.initial_temperature is not None and not 0 < self.initial_temperature <= self.final_temperature:
            raise UserError(
                f"initial_temperature={self.initial_temperature}; give a value in (0, final_temperature] (default: "
                "10 after a warm start, else 1)"
            )
        if not self.final_temperature >= 1:
            raise UserError(f"final_temperature={self.final_temperature}; give a value >= 1 (default 200)")
        if self.finetune_lr is not None and not self.finetune_lr > 0:
            raise UserError(f"finetune_lr={self.finetune_lr}; give a positive learning rate")
        for f in fields(self):  # closed sets (the CLI checks them too; a TOML file or the API may not)
            allowed = f.metadata.get("choices")
            if allowed and getattr(self, f.name) is not None and getattr(self, f.name) not in allowed:
                raise UserError(f"{f.name}={getattr(self, f.name)!r}; use one of {', '.join(allowed)}")

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
    def warm_start_epochs(self) -> int:
        """Float warm-start epochs: ``pretrain_epochs``, or when unset a third of ``epochs`` (at least 1). Without
        one the bit planes start from random weights, which a short search cannot train (docs/method.md)."""
        if self.pretrain_epochs is not None:
            return self.pretrain_epochs
        return max(1, round(WARM_START_SHARE * self.epochs))

    @property
    def start_temperature(self) -> float:
        """T at epoch 0: ``initial_temperature``, or when unset 10 after a warm start (the converted model then
        starts close to the float one: a set bit is worth sigmoid(5) - sigmoid(-5) = 0.99 of itself, not 0.24) and
        1 from random weights (the paper's)."""
        if self.initial_temperature is not None:
            return self.initial_temperature
        return min(10.0, self.final_temperature) if self.warm_start_epochs else 1.0

    def temperature_at(self, epoch: int) -> float:
        """The schedule's T at ``epoch`` (:func:`csq_hw.quant.temperature.scheduled_temperature`) with T_0 =
        :attr:`start_temperature`: T_0 at epoch 0, T_final at the ticket, growing on afterwards."""
        return scheduled_temperature(epoch, self.ticket, self.final_temperature, self.start_temperature)

    @property
    def finetune_start(self) -> str:
        """Where the fine-tune's shadow weights start: ``finetune_init``, or when unset ``rewind`` (the warm-start
        float weights) after a warm start and ``search`` (the soft search weights) without one: rewinding would
        restart the fine-tune from random weights."""
        if self.finetune_init is not None:
            return self.finetune_init
        return "rewind" if self.warm_start_epochs else "search"

    @property
    def finetune_learning_rate(self) -> float:
        """Base learning rate of the fine-tune's fresh cosine: ``finetune_lr``, or ``2 * lr`` when unset (measured
        best of 1x, 2x and 3x with Adam on MNIST-1D and digits; docs/results_mnist1d.md)."""
        return 2.0 * self.lr if self.finetune_lr is None else self.finetune_lr


#: how the trainer prices its hard model (``[budget] pricing``): layer widths, or every integer weight
PRICINGS = ("widths", "weights")


@dataclass(frozen=True)
class BudgetOptions:
    """``[budget]``: the hardware budget the search must meet."""

    spec: str = option(
        "size=u4",
        flag="budget",
        help="KIND=VALUE: VALUE absolute in the cost's unit (size=20000 bit, bops=2e5, lut=3000) or uN, "
        "the cost at uniform N-bit weights and activations (csq-hw cost --help lists the kinds); several "
        "constraints at once: lut=20000,latency:bismo=4e4 (a TOML list too)",
        list_join=";",
    )
    strength: float = option(2.0, help="budget term strength lambda")
    pricing: str | None = option(
        None,
        choices=PRICINGS,
        default_text="weights for an EBOPs budget, else widths",
        help="how training prices the hard model against the budget: widths (each layer by its selected bits) or "
        "weights (every integer weight by its own width, what the exact-weight report prices)",
    )

    def __post_init__(self) -> None:
        _finite(self)
        if self.strength < 0:
            raise UserError(f"strength={self.strength}; give a non-negative budget strength")
        try:  # the grammar, once: every consumer reads ``parsed`` (which kinds exist is checked before data loads)
            object.__setattr__(self, "_parsed", BudgetSpec.parse(self.spec))
        except CostError as exc:
            raise UserError(str(exc)) from None

    @property
    def parsed(self) -> BudgetSpec:
        """The budget as a typed :class:`cost_models.BudgetSpec` (its constraints, kinds and values)."""
        return self._parsed  # type: ignore[attr-defined]


def check_value(o: OptionInfo, value: Any, where: str) -> Any:
    """``value`` checked against the option's declared type (and choices); one-line error naming ``where``."""
    kind = o.value_type
    if value is None:
        if o.optional:
            return None
        raise UserError(f"{where} has no value; give one")
    if kind == "int|str":  # act_bits: an integer or "search"
        if value == "search" or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise UserError(f'{where}={value!r}; give an integer or "search"')
    if kind.startswith("dict"):
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a table (TOML {{ key = value }}, JSON object on the command line)")
        return dict(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"{where}={value!r} must be true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}={value!r} must be an integer")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}={value!r} must be a number")
        return float(value)
    if o.list_join is not None and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        value = o.list_join.join(value)
    if not isinstance(value, str):
        raise UserError(f"{where}={value!r} must be a string")
    if o.choices and value not in o.choices:
        raise UserError(f"{where}={value!r}; use one of {', '.join(o.choices)}")
    return value
