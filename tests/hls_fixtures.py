"""Hand-built run directories for the HLS tests: random integer weights on a pow2 grid, random input quantizers.

``make_run(tmp_path, "digits-cnn", batchnorm=True)`` writes ``precisions.json``, ``exact_model.pt``,
``config.toml`` and a small ``data.npz`` test set (``npz:`` data spec), as ``csq-hw train`` would, without
training. Everything is seeded, so a failing test reproduces.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from csq_hw.quant.exact import EXACT_FORMAT, EXACT_VERSION, ExactAffine, ExactQuantLayer, build_exact_model
from csq_hw.zoo.models import model_info

__all__ = ["make_precisions", "fill_exact_model", "make_run", "write_run"]


def _op(m: nn.Module) -> str | None:
    if isinstance(m, nn.Linear):
        return "linear"
    if isinstance(m, nn.Conv1d):
        return "conv1d"
    if isinstance(m, nn.Conv2d):
        return "conv2d"
    return None


def make_precisions(
    model_name: str,
    *,
    kwargs: dict[str, Any] | None = None,
    w_bits: int = 4,
    seed: int = 0,
    searched_act: bool = False,
    input_shape: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """A ``precisions.json`` dict (schema v1) for ``model_name`` with random per-layer choices.

    ``input_shape``: one sample's shape when it differs from the registry's (e.g. a small ResNet on 3x8x8).

    Weights: ``w_bits`` contiguous positions starting at a random LSB position, step exponent in [-7, -4].
    Inputs: the first layer signed (k=1, i=2, f in [3, 5]); later layers unsigned (k=0), i in [1, 3],
    f in [2, 5] (different per layer when ``searched_act``, else i=2, f=4).
    """
    rng = np.random.default_rng(seed)
    kwargs = dict(kwargs or {})
    info = model_info(model_name)
    model = info.build(**kwargs)
    layers: list[dict[str, Any]] = []
    bns: list[dict[str, Any]] = []
    for name, m in model.named_modules():
        op = _op(m)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            bns.append(
                {
                    "name": name,
                    "channels": m.num_features,
                    "scale_step_exponent": -8,
                    "shift_step_exponent": -6,
                    "bits": 10,
                }
            )
        if op is None:
            continue
        p0 = int(rng.integers(0, 3))
        pos = list(range(p0, p0 + w_bits))
        e = int(rng.integers(-7 - p0, -4 - p0 + 1))
        first = not layers
        if first:
            k, i, f = 1, 2, int(rng.integers(3, 6))
        elif searched_act:
            k, i, f = 0, int(rng.integers(1, 4)), int(rng.integers(2, 6))
        else:
            k, i, f = 0, 2, 4
        has_bias = getattr(m, "bias", None) is not None
        bias = {"bits": 8, "step_exponent": -6, "k": 1, "i": 8 - 1 - 6, "f": 6} if has_bias else None
        layers.append(
            {
                "name": name,
                "op": op,
                "weight_shape": list(m.weight.shape),
                "weight": {
                    "bits": w_bits,
                    "positions": pos,
                    "span_bits": w_bits,
                    "step_exponent": e,
                    "step": 2.0**e,
                    "k": 1,
                    "i": e + pos[-1] + 1,
                    "f": -(e + pos[0]),
                    "int_min": None,
                    "int_max": None,
                },
                "bias": bias,
                "input": {
                    "bits": k + i + f,
                    "signed": bool(k),
                    "k": k,
                    "i": i,
                    "f": f,
                    "range_exponent": i,
                    "step_exponent": -f,
                    "rounding": "RND",
                    "saturation": "SAT",
                    "searched": searched_act,
                },
                "searched": True,
            }
        )
    return {
        "schema": "csq-hw/precisions",
        "version": 1,
        "model": {
            "name": model_name,
            "kwargs": kwargs,
            "input_shape": list(input_shape or info.input_shape),
            "n_classes": info.n_classes,
        },
        "max_bits": 8,
        "weight_step": "pow2",
        "layers": layers,
        "batchnorm": bns,
        "full_precision": [],
    }


def fill_exact_model(precisions: dict[str, Any], seed: int = 0) -> nn.Module:
    """The exact model for ``precisions`` with random on-grid weights, biases and BN affines.

    Updates ``weight.int_min``/``int_max`` in ``precisions`` to the drawn integers.
    """
    gen = torch.Generator().manual_seed(seed)
    model = build_exact_model(precisions)
    for entry in precisions["layers"]:
        mod = model.get_submodule(entry["name"])
        assert isinstance(mod, ExactQuantLayer)
        w = entry["weight"]
        lo_pos, n = w["positions"][0], len(w["positions"])
        mag = torch.randint(0, 2**n, mod.layer.weight.shape, generator=gen) * 2**lo_pos
        sign = torch.where(torch.rand(mod.layer.weight.shape, generator=gen) < 0.5, -1, 1)
        ints = mag * sign
        w["int_min"], w["int_max"] = int(ints.min()), int(ints.max())
        with torch.no_grad():
            mod.layer.weight.copy_(ints.double() * 2.0 ** w["step_exponent"])
            if entry["bias"] is not None:
                b = entry["bias"]
                bi = torch.randint(-(2 ** (b["bits"] - 1)), 2 ** (b["bits"] - 1), mod.layer.bias.shape, generator=gen)
                mod.layer.bias.copy_(bi.double() * 2.0 ** b["step_exponent"])
    for entry in precisions["batchnorm"]:
        aff = model.get_submodule(entry["name"])
        assert isinstance(aff, ExactAffine)
        c, bits = entry["channels"], entry["bits"]
        with torch.no_grad():
            # scale in [0.5, 2) on the 2^scale_step_exponent grid, shift anywhere in range
            s_lo = 2 ** (-1 - entry["scale_step_exponent"])
            si = torch.randint(s_lo, min(4 * s_lo, 2 ** (bits - 1)), (c,), generator=gen)
            aff.scale.copy_(si.double() * 2.0 ** entry["scale_step_exponent"])
            bi = torch.randint(-(2 ** (bits - 1)), 2 ** (bits - 1), (c,), generator=gen)
            aff.shift.copy_(bi.double() * 2.0 ** entry["shift_step_exponent"])
    return model


def write_run(
    run_dir: Path,
    precisions: dict[str, Any],
    model: nn.Module,
    x_test: np.ndarray | None = None,
    n_test: int = 200,
    seed: int = 0,
) -> Path:
    """Write ``precisions``, ``model`` and a test set (default: N(0, 1) samples) as a run directory."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    shape = tuple(precisions["model"]["input_shape"])
    if x_test is None:
        rng = np.random.default_rng(seed)
        x_test = rng.normal(0.0, 1.0, (n_test, *shape)).astype(np.float32)
    n_classes = int(precisions["model"]["n_classes"])
    y = np.arange(len(x_test)) % n_classes
    data = run_dir / "data.npz"
    np.savez(data, x_train=x_test[:n_classes], y_train=y[:n_classes], x_test=x_test, y_test=y)
    (run_dir / "precisions.json").write_text(json.dumps(precisions, indent=2) + "\n")
    torch.save(
        {"format": EXACT_FORMAT, "version": EXACT_VERSION, "state_dict": model.state_dict()},
        run_dir / "exact_model.pt",
    )
    (run_dir / "config.toml").write_text(
        f'[model]\nname = "{precisions["model"]["name"]}"\n\n[data]\ndataset = "npz:{data.as_posix()}"\n'
    )
    return run_dir


def make_run(
    run_dir: Path,
    model_name: str,
    *,
    seed: int = 0,
    n_test: int = 200,
    **kwargs: Any,
) -> Path:
    """``write_run(make_precisions(...), fill_exact_model(...))`` in one call; kwargs go to the model."""
    searched_act = bool(kwargs.pop("searched_act", False))
    w_bits = int(kwargs.pop("w_bits", 4))
    shape = kwargs.pop("input_shape", None)
    prec = make_precisions(
        model_name, kwargs=kwargs, w_bits=w_bits, seed=seed, searched_act=searched_act, input_shape=shape
    )
    model = fill_exact_model(prec, seed=seed)
    assert math.isfinite(sum(float(p.abs().sum()) for p in model.state_dict().values()))
    return write_run(run_dir, prec, model, n_test=n_test, seed=seed)
