"""Model zoo: the float architectures that ``csq_hw.quant.convert`` turns into CSQ models.

Names (for ``--model``): ``jet-mlp``, ``digits-mlp``, ``digits-cnn``, ``mnist1d-cnn``, ``resnet20``, ``resnet18``,
``resnet50`` (ImageNet; ``model_kwargs``: ``image_size`` (default 224), ``n_classes`` (1000), ``width`` (64)).
Every model ends on logits (no softmax) and uses ``nn.Flatten`` (not ``x.view(x.size(0), -1)``) so that hls4ml's
torch.fx frontend can trace it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from csq_hw.errors import UserError
from csq_hw.zoo.model_specs import SPEC_HELP, build_from_spec, is_spec, parse_spec
from csq_hw.zoo.resnet import resnet20
from csq_hw.zoo.resnet_imagenet import resnet18, resnet50

__all__ = [
    "ModelInfo",
    "MODELS",
    "build_model",
    "full_precision_for",
    "input_shape_for",
    "model_info",
    "n_classes_for",
]


@dataclass(frozen=True)
class ModelInfo:
    """A registered architecture: its builder, one sample's input shape and class count."""

    name: str
    build: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    n_classes: int
    description: str
    # module names kept in full precision by default (not CSQ layers)
    full_precision: tuple[str, ...] = ()
    # image models: ``model_kwargs["image_size"]`` S sets the input to (C, S, S); ``n_classes`` is a builder keyword
    sized_input: bool = False
    takes_n_classes: bool = False
    # a spec (``mlp:64,32``, ``file.py:build``, ...): input shape and classes come from model_kwargs
    from_kwargs: bool = False


def mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    """Linear/ReLU stack ``sizes[0] -> ... -> sizes[-1]``, ending on logits. Input shape (N, sizes[0])."""
    layers: list[nn.Module] = []
    for j, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if j < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def digits_cnn(channels: tuple[int, int] = (8, 16), n_classes: int = 10, batchnorm: bool = False) -> nn.Sequential:
    """CNN for 8x8 digits: Conv3x3(c1)-ReLU-MaxPool2-Conv3x3(c2)-ReLU-MaxPool2-Flatten-Linear. Input (N, 1, 8, 8)."""
    c1, c2 = channels

    def block(cin: int, cout: int) -> list[nn.Module]:
        mods: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1)]
        if batchnorm:
            mods.append(nn.BatchNorm2d(cout))
        return [*mods, nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(1, c1), *block(c1, c2), nn.Flatten(), nn.Linear(c2 * 2 * 2, n_classes))


def mnist1d_cnn(channels: int = 32, n_classes: int = 10, length: int = 40) -> nn.Sequential:
    """1-D CNN for MNIST-1D: 3 x (Conv1d(k=3, stride 2, pad 1) + ReLU), Flatten, Linear. Input (N, 1, 40)."""
    layers: list[nn.Module] = []
    cin, n = 1, length
    for _ in range(3):
        layers += [nn.Conv1d(cin, channels, 3, stride=2, padding=1), nn.ReLU()]
        cin, n = channels, (n + 1) // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * n, n_classes))


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo("jet-mlp", lambda **kw: mlp((16, 64, 32, 32, 5)), (16,), 5, "hls4ml jet tagger MLP 16-64-32-32-5"),
        ModelInfo("digits-mlp", lambda **kw: mlp((64, 64, 32, 10)), (64,), 10, "MLP 64-64-32-10 for 8x8 digits"),
        ModelInfo(
            "digits-cnn",
            lambda batchnorm=False, **kw: digits_cnn(batchnorm=batchnorm),
            (1, 8, 8),
            10,
            "CNN Conv8-Conv16-Linear for 8x8 digits",
        ),
        ModelInfo("mnist1d-cnn", lambda **kw: mnist1d_cnn(), (1, 40), 10, "1-D CNN (3 x Conv1d 32) for MNIST-1D"),
        ModelInfo(
            "resnet20",
            lambda **kw: resnet20(**kw),
            (3, 32, 32),
            10,
            "CIFAR ResNet-20 (option-B 1x1 shortcuts, kept full precision)",
            full_precision=("shortcut",),
            takes_n_classes=True,
        ),
        *(
            ModelInfo(
                name,
                build,
                (3, 224, 224),
                1000,
                f"ImageNet {label} (torchvision-shaped, 1x1 shortcuts kept full precision)",
                full_precision=("shortcut",),
                sized_input=True,
                takes_n_classes=True,
            )
            for name, build, label in (("resnet18", resnet18, "ResNet-18"), ("resnet50", resnet50, "ResNet-50 v1.5"))
        ),
    ]
}


def model_info(name: str) -> ModelInfo:
    """Registry entry for ``name`` (a zoo name or a spec, :mod:`csq_hw.zoo.model_specs`); a clear :class:`UserError`
    for unknown names and malformed specs."""
    if is_spec(name):
        kind, _ = parse_spec(name)
        return ModelInfo(name, lambda **kw: build_from_spec(name, **kw), (), 0, f"{kind} spec", from_kwargs=True)
    try:
        return MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(MODELS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserError(f"unknown model {name!r}; {hint}choose one of: {', '.join(MODELS)}, or {SPEC_HELP}") from None


def full_precision_for(name: str, kwargs: dict[str, object] | None = None) -> tuple[str, ...]:
    """Module-name substrings kept in float for model ``name`` built with ``kwargs``.

    The registry default (``ModelInfo.full_precision``), or ``()`` when ``kwargs["quantize_shortcuts"]`` is true
    (ResNet-20's 1x1 shortcuts become CSQ layers too, so that the model can be exported to firmware).
    """
    if (kwargs or {}).get("quantize_shortcuts"):
        return ()
    return model_info(name).full_precision


def input_shape_for(name: str, kwargs: dict[str, object] | None = None) -> tuple[int, ...]:
    """One sample's input shape for model ``name`` built with ``kwargs``: the registry's, or (C, S, S) with
    ``S = kwargs["image_size"]`` for the ImageNet models."""
    info = model_info(name)
    if info.from_kwargs:
        shape = (kwargs or {}).get("input_shape")
        if not isinstance(shape, (list, tuple)) or not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise UserError(f"model {name!r} needs model_kwargs input_shape (one sample's shape, e.g. [1, 49, 10]); "
                            "csq-hw train takes it from the data set")  # fmt: skip
        return tuple(shape)
    size = (kwargs or {}).get("image_size")
    if size is None or not info.sized_input:
        return info.input_shape
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise UserError(f"model_kwargs image_size={size!r} for {name}; give an integer >= 8 (224 for ImageNet)")
    return (info.input_shape[0], size, size)


def n_classes_for(name: str, kwargs: dict[str, object] | None = None) -> int:
    """Classes predicted by model ``name`` built with ``kwargs`` (``kwargs["n_classes"]`` where the model takes it)."""
    info = model_info(name)
    value = (kwargs or {}).get("n_classes")
    if info.from_kwargs:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"model {name!r} needs model_kwargs n_classes (outputs); csq-hw train takes it from the "
                            "data set")  # fmt: skip
        return value
    if value is None or not info.takes_n_classes:
        return info.n_classes
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise UserError(f"model_kwargs n_classes={value!r} for {name}; give an integer of at least 2")
    return value


def build_model(name: str, **kwargs: object) -> nn.Module:
    """A freshly initialised float model of architecture ``name``."""
    return model_info(name).build(**kwargs)
