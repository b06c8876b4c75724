"""A run's float architecture without the code that built it: a ``torch.fx`` trace of the float skeleton.

``architecture.pt`` (run directory) holds ``{"format": "csq-hw/architecture", "version": 1, "module": GraphModule,
"input_shape": [...], "n_classes": K}``: the traced float model, whose generated forward and standard torch layers
(the supported set, :mod:`csq_hw.quant.supported`) rebuild the model in any process that has torch, without the user's
class, file or notebook. Module names are kept (``block1.conv`` stays ``block1.conv``), so ``precisions.json``
refers to the same layers. ``precisions.json`` names the file under ``model.architecture``; readers that find it
(``csq-hw cost --run``, ``csq-hw export``, :func:`csq_hw.load_run`) build from it instead of the zoo.

It is a pickle (``torch.load(..., weights_only=False)``): load run directories you trust, as with any checkpoint.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from csq_hw.errors import UserError
from csq_hw.runtime.atomic_io import torch_save

__all__ = ["ARCHITECTURE_NAME", "save_architecture", "load_architecture"]

ARCHITECTURE_NAME = "architecture.pt"
_FORMAT, _VERSION = "csq-hw/architecture", 1


def save_architecture(path: str | Path, float_model: nn.Module, input_shape: tuple[int, ...], n_classes: int) -> Path:
    """Trace ``float_model`` (its weights do not matter: the exact weights live in exact_model.pt) and save it.

    The trace's type annotations are dropped: under ``from __future__ import annotations`` they are strings, which
    the pickled graph cannot hold (``'str' object has no attribute '__name__'``), and the generated forward needs
    none."""
    module = fx.symbolic_trace(copy.deepcopy(float_model).cpu().eval())
    for node in module.graph.nodes:
        node.type = None
    module.recompile()
    blob = {"format": _FORMAT, "version": _VERSION, "module": module, "input_shape": list(input_shape),
            "n_classes": int(n_classes)}  # fmt: skip
    return torch_save(path, blob)


def load_architecture(path: str | Path) -> nn.Module:
    """The float skeleton saved by :func:`save_architecture` (a fresh copy per call)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # a damaged file makes torch warn before it fails: one line is ours
            warnings.simplefilter("ignore")
            blob: Any = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise UserError(f"{path} not found; the run directory lost its traced model (re-run `csq-hw train`)") from None
    except Exception as exc:  # noqa: BLE001 - truncated or foreign pickle
        raise UserError(f"{path} is unreadable ({type(exc).__name__}): truncated or damaged; re-run `csq-hw train` "
                        "or restore the file") from None  # fmt: skip
    if not isinstance(blob, dict) or blob.get("format") != _FORMAT or blob.get("version") != _VERSION:
        raise UserError(f"{path} is not a {_FORMAT!r} version {_VERSION} file; re-run `csq-hw train`")
    return copy.deepcopy(blob["module"])
