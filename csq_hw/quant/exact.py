"""The exact quantized model: plain torch modules whose every value lies on a fixed-point grid.

After training, each CSQ layer becomes an :class:`ExactQuantLayer` (input quantizer + plain Linear/Conv with
weights ``int * 2^e``) and each BatchNorm an :class:`ExactAffine`. This is what the user gets, what
``exact_model.pt`` stores and what the HLS backend exports; see ``docs/precisions_v1.md``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import ModelSpec, Precisions
from csq_hw.quant.fixed_point import quantize_fixed
from csq_hw.quant.module_utils import get_submodule, set_submodule
from csq_hw.zoo.models import build_model

__all__ = [
    "load_exact_blob",
    "float_skeleton",
    "FixedPointQuant",
    "ExactQuantLayer",
    "ExactAffine",
    "build_exact_model",
    "EXACT_FORMAT",
    "EXACT_VERSION",
]

EXACT_FORMAT = "csq-hw/exact"
EXACT_VERSION = 1


class FixedPointQuant(nn.Module):
    """Static fixed-point quantizer (k, i, f), round half up, saturating. Shape-preserving."""

    def __init__(self, k: int, i: int, f: int) -> None:
        super().__init__()
        self.k, self.i, self.f = int(k), int(i), int(f)

    @property
    def bits(self) -> int:
        return self.k + self.i + self.f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return quantize_fixed(x, self.k, self.i, self.f)

    def extra_repr(self) -> str:
        return f"k={self.k}, i={self.i}, f={self.f}"


class ExactQuantLayer(nn.Module):
    """``layer(quant(x))``: a CSQ layer in exact form. ``layer`` is a plain nn.Linear/Conv1d/Conv2d."""

    def __init__(self, quant: FixedPointQuant, layer: nn.Module) -> None:
        super().__init__()
        self.quant = quant
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.quant(x))


class ExactAffine(nn.Module):
    """Frozen BatchNorm: ``y = x * scale[c] + shift[c]`` over channel dim 1, both on fixed-point grids."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(channels))
        self.register_buffer("shift", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.scale.view(shape).to(x.dtype) + self.shift.view(shape).to(x.dtype)


def _plain_layer(op: str, like: nn.Module) -> nn.Module:
    """A plain torch layer with the hyper-parameters of ``like`` (a float or CSQ layer)."""
    has_bias = getattr(like, "bias", None) is not None
    if op == "linear":
        return nn.Linear(like.in_features, like.out_features, bias=has_bias)
    cls = {"conv1d": nn.Conv1d, "conv2d": nn.Conv2d}[op]
    return cls(
        like.in_channels,
        like.out_channels,
        like.kernel_size,
        stride=like.stride,
        padding=like.padding,
        dilation=like.dilation,
        groups=like.groups,
        bias=has_bias,
    )


def float_skeleton(spec: ModelSpec | dict[str, Any], run_dir: str | Path | None = None) -> nn.Module:
    """The float model a ``precisions.json`` ``model`` entry describes: its traced architecture when the entry
    names one (``architecture``, a file in ``run_dir``), else the zoo model or spec rebuilt from name and kwargs."""
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.from_dict(spec)
    if spec.architecture and run_dir is not None:
        from csq_hw.zoo.architecture import load_architecture

        return load_architecture(Path(run_dir) / spec.architecture)
    return build_model(spec.name, **spec.kwargs)


def build_exact_model(precisions: Precisions | dict[str, Any], run_dir: str | Path | None = None) -> nn.Module:
    """The exact-model skeleton described by a ``precisions.json`` dict (load ``exact_model.pt`` into it);
    ``run_dir``: where the run's traced architecture lives (user models, :mod:`csq_hw.zoo.architecture`)."""
    prec = Precisions.of(precisions)
    model = float_skeleton(prec.model, run_dir)
    for la in prec.layers:
        q = la.input
        plain = _plain_layer(la.op, get_submodule(model, la.name))
        set_submodule(model, la.name, ExactQuantLayer(FixedPointQuant(q.k, q.i, q.f), plain))
    for bn in prec.batchnorm:
        set_submodule(model, bn.name, ExactAffine(bn.channels))
    return model.eval()


def load_exact_blob(path: Path) -> dict[str, Any]:
    """``exact_model.pt`` after checking format and version; one-line errors for missing, truncated or foreign."""
    try:
        with warnings.catch_warnings():  # a damaged file makes torch warn before it fails: one line is ours
            warnings.simplefilter("ignore")
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path} not found; the run did not finish (re-run `csq-hw train`)") from None
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad pickle, ...: a damaged file either way
        raise UserError(f"{path} is unreadable ({type(exc).__name__}): truncated or damaged; re-run `csq-hw train` "
                        "or restore the file") from None  # fmt: skip
    if not isinstance(blob, dict) or blob.get("format") != EXACT_FORMAT or blob.get("version") != EXACT_VERSION:
        raise UserError(f"{path} is not a {EXACT_FORMAT!r} version {EXACT_VERSION} file; re-run `csq-hw train`")
    if not isinstance(blob.get("state_dict"), dict):
        raise UserError(f"{path} has no state_dict; re-run `csq-hw train`")
    return blob
