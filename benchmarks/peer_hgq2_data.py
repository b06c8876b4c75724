"""Data and architecture names of benchmarks/peer_hgq2.py: zoo data sets, a user's npz and the task suite's tasks,
channels-last for Keras, with csq-hw's input shape and class count."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_DATASET = {"mnist1d-cnn": "mnist1d", "digits-mlp": "digits", "jet-mlp": "jets"}
ZOO_MLPS = {"digits-mlp": (64, 32), "jet-mlp": (64, 32, 32)}  # hidden sizes; the input and output from the model
SUITE_DIR = Path(__file__).resolve().parent / "suite"
DEFAULT_NPZ_MODEL = "mlp:64,32"


def parse_arch(model: str) -> tuple[str, tuple[int, ...]]:
    """``("mlp", hidden sizes)``, ``("cnn1d", channels)`` or ``("mnist1d-cnn", ())``; ValueError if unsupported."""
    if model in ZOO_MLPS:
        return "mlp", ZOO_MLPS[model]
    if model == "mnist1d-cnn":
        return model, ()
    head, sep, rest = model.partition(":")
    if sep and head in ("mlp", "cnn1d"):
        try:
            sizes = tuple(int(v) for v in rest.split(","))
        except ValueError:
            sizes = ()
        if sizes and all(v > 0 for v in sizes):
            return head, sizes
    raise ValueError(f"model {model!r}: give one of {', '.join(sorted(DEFAULT_DATASET))}, mlp:H1,H2,... or "
                     "cnn1d:C1,C2,... (the architectures this script builds in HGQ2)")  # fmt: skip


def suite_task(name: str):
    """The :class:`Task` ``name`` of ``benchmarks/suite/tasks.py``."""
    if str(SUITE_DIR) not in sys.path:
        sys.path.insert(0, str(SUITE_DIR))
    from tasks import TASKS

    if name not in TASKS:
        raise ValueError(f"--suite-task {name!r}: choose one of {', '.join(TASKS)}")
    return TASKS[name]


def dataset_label(args: argparse.Namespace) -> str:
    if args.task is not None:
        return f"suite:{args.task.name}"
    if args.npz:
        return f"npz:{args.npz}"
    return args.dataset or DEFAULT_DATASET[args.model]


def csq_input_shape(model: str, sample_shape: tuple[int, ...]) -> tuple[int, ...]:
    """csq-hw's model input shape (torch, channels-first) for data samples of ``sample_shape``."""
    from csq_hw import model_info

    info = model_info(model)
    if not info.from_kwargs:
        return tuple(info.input_shape)
    from csq_hw.zoo.model_specs import spec_shape

    return spec_shape(parse_arch(model)[0], tuple(sample_shape))


def to_keras(x: np.ndarray, torch_shape: tuple[int, ...]) -> np.ndarray:
    """Samples reshaped to ``torch_shape`` and made channels-last: (N, C, L) -> (N, L, C); (N, F) stays."""
    x = x.reshape(len(x), *torch_shape)
    if len(torch_shape) == 2:
        x = x.transpose(0, 2, 1)
    return np.ascontiguousarray(x, np.float32)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(z.files)
        if missing:
            raise ValueError(f"{path}: lacks arrays {sorted(missing)}")
        arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    for key in ("y_train", "y_test"):
        y = arrays[key]
        if y.dtype.kind not in "iu" or y.ndim != 1:
            raise ValueError(f"{path}: {key} is {y.dtype} {y.shape}; only classification (integer labels, shape (N,)) "
                             "is supported")  # fmt: skip
    return arrays


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The data set, channels-last for Keras: (N, L, C) for Conv1D, (N, F) for the MLP. Sets ``args.npz_path``,
    ``args.torch_shape`` (csq-hw's input shape) and ``args.n_classes``."""
    from csq_hw import model_info
    from csq_hw.data import load_dataset

    if args.npz or args.task is not None:
        if args.task is not None:
            from tasks import dataset_path  # on sys.path since parse_args

            path = dataset_path(args.task, data_dir=args.data_dir, verbose=True)
        else:
            path = Path(args.npz)
        args.npz_path = str(path)
        arrays = load_npz(path)
        args.torch_shape = csq_input_shape(args.model, arrays["x_train"].shape[1:])
        args.n_classes = int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
        info = model_info(args.model)
        if not info.from_kwargs and info.n_classes != args.n_classes:
            raise ValueError(f"{args.model} predicts {info.n_classes} classes, {path} has {args.n_classes}")
        n = args.max_train or len(arrays["x_train"])
        return (to_keras(arrays["x_train"][:n], args.torch_shape), arrays["y_train"][:n].astype(np.int64),
                to_keras(arrays["x_test"], args.torch_shape), arrays["y_test"].astype(np.int64))  # fmt: skip

    info = model_info(args.model)
    data = load_dataset(args.dataset or DEFAULT_DATASET[args.model]).reshaped(info.input_shape)
    args.npz_path, args.torch_shape, args.n_classes = None, tuple(info.input_shape), int(info.n_classes)
    x_tr, x_te = data.x_train, data.x_test
    if len(info.input_shape) == 2:  # (C, L) -> (L, C)
        x_tr, x_te = x_tr.transpose(0, 2, 1), x_te.transpose(0, 2, 1)
    if args.max_train:
        x_tr, y_tr = x_tr[: args.max_train], data.y_train[: args.max_train]
    else:
        y_tr = data.y_train
    return (np.ascontiguousarray(x_tr, np.float32), y_tr.astype(np.int64),
            np.ascontiguousarray(x_te, np.float32), data.y_test.astype(np.int64))  # fmt: skip
