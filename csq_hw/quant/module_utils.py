"""Get and replace submodules by dotted name."""

from __future__ import annotations

from torch import nn

__all__ = ["get_submodule", "set_submodule"]


def get_submodule(model: nn.Module, name: str) -> nn.Module:
    """``model.get_submodule(name)``; ``''`` is the model itself."""
    return model.get_submodule(name) if name else model


def set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    """Replace the submodule at dotted ``name`` with ``new``."""
    parent_name, _, child = name.rpartition(".")
    parent = get_submodule(model, parent_name)
    setattr(parent, child, new)
