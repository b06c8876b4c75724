"""Models beyond the zoo: parametric specs sized by the data set, and a user's own builder.

``--model`` (and ``TrainConfig.model``) accepts, besides the zoo names (:mod:`csq_hw.zoo.models`):

- ``mlp:H1,H2,...``: Linear/ReLU stack ``F -> H1 -> H2 -> ... -> n_classes``, F = the values in one sample
  (a sample of shape (1, 49, 10) is flattened to 490 features);
- ``cnn1d:C1,C2,...``: per entry Conv1d(k=3, padding 1) + ReLU (+ MaxPool1d(2) while the length is >= 2), then
  Flatten + Linear; samples (C, L) (a flat (F,) sample is read as (1, F));
- ``cnn2d:C1,C2,...``: the same with Conv2d 3x3 and MaxPool2d(2); samples (C, H, W) ((H, W) is read as (1, H, W));
- ``PATH.py:FUNC`` or ``package.module:FUNC``: ``FUNC(input_shape, n_classes, **kwargs) -> nn.Module``, the user's
  builder (kwargs from ``[model] kwargs`` in a config).

Every such model is built from ``model_kwargs["input_shape"]`` and ``model_kwargs["n_classes"]``, which
``csq-hw train`` fills in from the data set (and records in config.toml and precisions.json), so a run directory
rebuilds its model without the data. A builder file's path is made absolute; the run also keeps a traced copy of
the float skeleton (:mod:`csq_hw.zoo.architecture`), so pricing and export do not need the file any more.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from csq_hw.errors import UserError

__all__ = ["is_spec", "parse_spec", "spec_shape", "build_from_spec", "absolute_spec", "SPEC_HELP"]

SPEC_HELP = "mlp:H1,H2,..., cnn1d:C1,C2,..., cnn2d:C1,C2,..., PATH.py:FUNC or package.module:FUNC"
_PARAMETRIC = ("mlp", "cnn1d", "cnn2d")
_SIZES = re.compile(r"^\d+(,\d+)*$")


def is_spec(name: str) -> bool:
    """Whether ``name`` is a spec (it holds a ``:``) rather than a zoo name."""
    return ":" in name


def parse_spec(name: str) -> tuple[str, Any]:
    """``("mlp", (64, 32))``, ``("file", (path, func))`` or ``("module", (module, func))``; one-line errors."""
    head, _, rest = name.partition(":")
    if head in _PARAMETRIC:
        if not _SIZES.match(rest) or any(int(v) < 1 for v in rest.split(",")):
            raise UserError(f"model spec {name!r}: give positive sizes after '{head}:', e.g. {head}:64,32")
        return head, tuple(int(v) for v in rest.split(","))
    if not rest.isidentifier():
        raise UserError(f"model spec {name!r}: after ':' give the builder function's name; use {SPEC_HELP}")
    if head.endswith(".py"):
        return "file", (head, rest)
    if all(part.isidentifier() for part in head.split(".")):
        return "module", (head, rest)
    raise UserError(f"model spec {name!r} is neither a zoo name nor one of {SPEC_HELP}")


def absolute_spec(name: str) -> str:
    """The spec with a builder file's path made absolute (so a run records where its builder lives)."""
    kind, value = parse_spec(name)
    if kind != "file":
        return name
    path = Path(value[0]).expanduser().resolve()
    if not path.is_file():
        raise UserError(f"model builder file {value[0]} not found; give PATH.py:FUNC with an existing file")
    return f"{path}:{value[1]}"


def spec_shape(kind: str, sample_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The model's input shape for data samples of ``sample_shape`` (mlp: flattened; cnn: a channel axis added)."""
    n = math.prod(sample_shape)
    if kind == "mlp":
        return (n,)
    want = 2 if kind == "cnn1d" else 3
    if len(sample_shape) == want:
        return tuple(sample_shape)
    if len(sample_shape) == want - 1:
        return (1, *sample_shape)
    raise UserError(
        f"a {kind} model takes samples of {want} axes ({'C, L' if want == 2 else 'C, H, W'}) or {want - 1}; the "
        f"data has samples of shape {tuple(sample_shape)}; reshape the data or pick another spec"
    )


def _mlp(sizes: tuple[int, ...], shape: tuple[int, ...], n_classes: int) -> nn.Module:
    dims = (math.prod(shape), *sizes, n_classes)
    layers: list[nn.Module] = []
    for j, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if j < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _cnn(kind: str, channels: tuple[int, ...], shape: tuple[int, ...], n_classes: int) -> nn.Module:
    conv, pool = (nn.Conv1d, nn.MaxPool1d) if kind == "cnn1d" else (nn.Conv2d, nn.MaxPool2d)
    cin, spatial = shape[0], list(shape[1:])
    layers: list[nn.Module] = []
    for c in channels:
        layers += [conv(cin, c, 3, padding=1), nn.ReLU()]
        if min(spatial) >= 2:
            layers.append(pool(2))
            spatial = [s // 2 for s in spatial]
        cin = c
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * math.prod(spatial), n_classes))


def _builder(kind: str, value: tuple[str, str]) -> Callable[..., nn.Module]:
    where, func = value
    if kind == "file":
        path = Path(where)
        if not path.is_file():
            raise UserError(f"model builder file {where} not found (the run was trained with it); restore it, or "
                            "price and export from the run directory, which keeps the traced model")  # fmt: skip
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(f"csq_hw_user_model_{digest}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - the user's file: report, do not crash with its traceback
            raise UserError(f"model builder file {where} failed to import ({type(exc).__name__}: {exc})") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise UserError(f"model builder module {where!r} cannot be imported ({exc}); check PYTHONPATH") from None
    fn = getattr(module, func, None)
    if not callable(fn):
        raise UserError(f"model builder {where}:{func}: {func!r} is not a function in it")
    return fn


def build_from_spec(name: str, input_shape: Any = None, n_classes: Any = None, **kwargs: Any) -> nn.Module:
    """Build the float model of spec ``name`` for one sample of ``input_shape`` and ``n_classes`` outputs."""
    if input_shape is None or n_classes is None:
        raise UserError(f"model spec {name!r} needs model_kwargs input_shape and n_classes; csq-hw train takes "
                        "them from the data set")  # fmt: skip
    shape, classes = tuple(int(d) for d in input_shape), int(n_classes)
    kind, value = parse_spec(name)
    if kind == "mlp":
        return _mlp(value, shape, classes)
    if kind in ("cnn1d", "cnn2d"):
        return _cnn(kind, value, shape, classes)
    try:
        model = _builder(kind, value)(shape, classes, **kwargs)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's builder: one line, not its traceback
        raise UserError(f"model builder {name} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"model builder {name} returned {type(model).__name__}, not a torch nn.Module")
    return model
