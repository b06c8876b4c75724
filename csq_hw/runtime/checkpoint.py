"""Per-epoch training checkpoints (atomic) and their validation on resume."""

from __future__ import annotations

import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from csq_hw.errors import UserError
from csq_hw.runtime.atomic_io import torch_save

__all__ = [
    "CHECKPOINT_NAME", "RESUME_CHANGEABLE", "save_checkpoint", "load_checkpoint", "config_changes", "rng_state",
    "set_rng_state",
]  # fmt: skip

CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = "csq-hw/checkpoint"
_VERSION = 2  # 2: readable with weights_only=True (1 held numpy objects: a full pickle)


def rng_state() -> dict[str, Any]:
    """The torch, numpy and Python generators' states, in types ``torch.load(weights_only=True)`` reads (numpy's
    key array as an int64 tensor: (name, keys (624,), pos, has_gauss, cached_gaussian))."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = (str(name), torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss),
                   float(cached))  # fmt: skip
    return {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])


def save_checkpoint(out_dir: Path, **payload: Any) -> Path:
    """Write ``checkpoint.pt`` atomically (the previous one stays valid until the rename)."""
    return torch_save(out_dir / CHECKPOINT_NAME, {"format": _FORMAT, "version": _VERSION, **payload})


_KEYS = ("config", "epoch", "model", "optimizer", "rng", "metrics", "repairs")
# settings a resume may change with ``allow_changes``: numbers of the schedule and the optimizer. Anything else
# (model, data, bits, the hand-over mode, ...) defines what the checkpoint's tensors mean, so it never changes.
RESUME_CHANGEABLE = (
    "epochs", "ticket_epoch", "settle_epochs", "freeze_share", "lr", "finetune_lr", "weight_decay", "strength",
    "initial_temperature", "final_temperature", "device", "amp",
)  # fmt: skip


# settings that say where and how a step runs, not what it computes: a resume may always change them (and a
# checkpoint older than ``compile`` lacks it)
RESUME_FREE = ("device", "compile")


def config_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``["epochs 20 -> 30", ...]``: the settings that differ between a checkpoint's config and ``current``."""
    return [f"{k} {saved.get(k)!r} -> {current[k]!r}" for k in current if saved.get(k) != current[k]]


def load_checkpoint(out_dir: Path, config_dict: dict[str, Any], allow_changes: bool = False) -> dict[str, Any]:
    """Load and validate ``checkpoint.pt`` for ``--resume``; one-line errors for missing/corrupt/foreign files.

    A resume with settings other than the checkpoint's is refused with the list of what changed, unless
    ``allow_changes`` and every change is a schedule or optimizer number (:data:`RESUME_CHANGEABLE`); ``device``
    and ``compile`` may always change (:data:`RESUME_FREE`: a run moves between machines).
    """
    path = out_dir / CHECKPOINT_NAME
    if not path.is_file():
        raise UserError(f"no checkpoint at {path} to resume from; run without --resume to start a new run")
    try:
        with warnings.catch_warnings():  # a damaged file makes torch warn before it fails: one line is ours
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only: no code
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):  # a class or function to call: not tensors and plain data
            raise UserError(
                f"checkpoint {path} holds objects other than tensors and plain data (a checkpoint of csq-hw before "
                "version 2, or a crafted file); it was not loaded, since unpickling it could run code; start again "
                "without --resume in another --out, or finish the run with the csq-hw that wrote it"
            ) from None
        raise UserError(f"checkpoint {path} is unreadable (UnpicklingError); delete it and start again without "
                        "--resume") from None  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - any other reading failure means a corrupt file
        raise UserError(
            f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it and start again without --resume"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
        raise UserError(f"{path} is not a csq-hw checkpoint; point --out at a csq-hw run directory")
    if ckpt.get("version") != _VERSION:
        raise UserError(f"checkpoint {path} has version {ckpt.get('version')}, expected {_VERSION}; start a new run")
    missing = [k for k in _KEYS if k not in ckpt]
    if missing:
        raise UserError(f"checkpoint {path} lacks {', '.join(missing)}: it is damaged; delete it and start again "
                        "without --resume")  # fmt: skip
    saved = ckpt["config"] if isinstance(ckpt["config"], dict) else {}
    changed = [k for k in config_dict if k not in RESUME_FREE and saved.get(k) != config_dict[k]]
    fixed = [k for k in changed if k not in RESUME_CHANGEABLE]
    what = ", ".join(config_changes({k: saved.get(k) for k in changed}, {k: config_dict[k] for k in changed}))
    if changed and (not allow_changes or fixed):
        hint = (
            f"{', '.join(fixed)} cannot change on resume (the checkpoint's tensors depend on it); use another --out"
            if allow_changes
            else "resume with the same settings, pass --allow-changes to continue with the new schedule or optimizer "
            "numbers, or use another --out"
        )
        raise UserError(f"checkpoint {path} was made with other settings ({what}); {hint}")
    ckpt["changes"] = what if changed else ""
    return ckpt
