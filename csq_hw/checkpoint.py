"""Per-epoch training checkpoints (atomic) and their validation on resume."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic_io import torch_save
from .errors import UserError

__all__ = ["CHECKPOINT_NAME", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state"]

CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = "csq-hw/checkpoint"
_VERSION = 1


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(out_dir: Path, **payload: Any) -> Path:
    """Write ``checkpoint.pt`` atomically (the previous one stays valid until the rename)."""
    return torch_save(out_dir / CHECKPOINT_NAME, {"format": _FORMAT, "version": _VERSION, **payload})


def load_checkpoint(out_dir: Path, config_dict: dict[str, Any]) -> dict[str, Any]:
    """Load and validate ``checkpoint.pt`` for ``--resume``; one-line errors for missing/corrupt/foreign files."""
    path = out_dir / CHECKPOINT_NAME
    if not path.is_file():
        raise UserError(f"no checkpoint at {path} to resume from; run without --resume to start a new run")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise UserError(
            f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it and start again without --resume"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
        raise UserError(f"{path} is not a csq-hw checkpoint; point --out at a csq-hw run directory")
    if ckpt.get("version") != _VERSION:
        raise UserError(f"checkpoint {path} has version {ckpt.get('version')}, expected {_VERSION}; start a new run")
    saved = ckpt.get("config", {})
    diff = sorted(k for k in config_dict if k not in ("epochs", "device") and saved.get(k) != config_dict[k])
    if diff:
        raise UserError(
            f"checkpoint {path} was made with a different config ({', '.join(diff)}); resume with the same "
            "settings or use another --out"
        )
    return ckpt
