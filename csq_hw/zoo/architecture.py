"""A run's float architecture without the code that built it, and without a pickle: the ``torch.fx`` graph as JSON.

``architecture.json`` (run directory) holds::

    {"format": "csq-hw/architecture", "version": 2, "input_shape": [C, ...], "n_classes": K,
     "modules": {"block1.conv": {"type": "Conv2d", "config": {"in_channels": 8, ...}}, ...},
     "nodes": [{"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}},
               {"name": "block1_conv", "op": "call_module", "target": "block1.conv", "args": [{"node": "x"}], ...},
               {"name": "add", "op": "call_function", "target": "operator.add", "args": [...], ...},
               {"name": "output", "op": "output", "target": "output", "args": [{"node": "..."}], "kwargs": {}}]}

It is the traced float skeleton (its weights do not matter: the exact weights live in ``exact_model.pt``): every
module is one of the supported standard layers (:mod:`csq_hw.quant.supported`) with its constructor arguments,
every function one of a closed table. Reading it builds those layers by name from that table and the graph from the
node list; nothing in the file is executed or imported, so a run directory received from someone else is safe to
open. Module names are kept (``block1.conv`` stays ``block1.conv``), so ``precisions.json`` refers to the same
layers; ``precisions.json`` names the file under ``model.architecture``.

Run directories written before version 2 hold ``architecture.pt``, a pickle (unpickling can run any code). Readers
refuse it with a one-line error; ``csq-hw upgrade-run RUN --trust`` converts a run you trust (:func:`upgrade_pickle`).
"""

from __future__ import annotations

import copy
import json
import operator
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from csq_hw.errors import UserError
from csq_hw.runtime.atomic_io import sha256_file, torch_save, write_json, write_text

__all__ = ["ARCHITECTURE_NAME", "PICKLED_ARCHITECTURE_NAME", "save_architecture", "load_architecture",
           "architecture_dict", "architecture_from_dict", "upgrade_pickle"]  # fmt: skip

ARCHITECTURE_NAME = "architecture.json"
PICKLED_ARCHITECTURE_NAME = "architecture.pt"  # before version 2
_FORMAT, _VERSION = "csq-hw/architecture", 2

#: module type -> its constructor arguments (attributes of the same name); the only classes a file may name
_MODULE_FIELDS: dict[type[nn.Module], tuple[str, ...]] = {
    nn.Linear: ("in_features", "out_features", "bias"),
    nn.Conv1d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
                "padding_mode"),
    nn.Conv2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
                "padding_mode"),
    nn.ReLU: ("inplace",),
    nn.MaxPool1d: ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    nn.MaxPool2d: ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    nn.AvgPool1d: ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    nn.AvgPool2d: ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    nn.AdaptiveAvgPool2d: ("output_size",),
    nn.BatchNorm1d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.BatchNorm2d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.Flatten: ("start_dim", "end_dim"),
    nn.Identity: (),
    nn.Dropout: ("p", "inplace"),
}  # fmt: skip
_MODULE_TYPES = {cls.__name__: cls for cls in _MODULE_FIELDS}
#: the functions a graph may call, by the name the file stores
_FUNCTIONS = {"operator.add": operator.add, "torch.add": torch.add, "torch.relu": torch.relu,
              "torch.nn.functional.relu": F.relu, "torch.flatten": torch.flatten}  # fmt: skip
_FUNCTION_NAMES = {id(f): name for name, f in _FUNCTIONS.items()}
_METHODS = ("add", "relu", "flatten")
_OPS = ("placeholder", "call_module", "call_function", "call_method", "output")


def _module_config(m: nn.Module) -> dict[str, Any]:
    """``{"type": "Conv2d", "config": {constructor argument: value}}`` of a supported module."""
    fields = _MODULE_FIELDS.get(type(m))
    if fields is None:
        raise UserError(f"module {type(m).__name__} cannot be stored in {ARCHITECTURE_NAME}; supported: "
                        f"{', '.join(_MODULE_TYPES)}")  # fmt: skip
    config = {f: getattr(m, f) for f in fields}
    if "bias" in config:  # the constructor takes a flag; the module holds the tensor (or None)
        config["bias"] = m.bias is not None
    return {"type": type(m).__name__, "config": {k: _encode(v) for k, v in config.items()}}


def _encode(value: Any) -> Any:
    """A node argument as JSON: nodes ``{"node": name}``, tuples ``{"tuple": [...]}``, dicts, lists, scalars."""
    if isinstance(value, fx.Node):
        return {"node": value.name}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise UserError(f"a traced argument of type {type(value).__name__} cannot be stored in {ARCHITECTURE_NAME}")


def architecture_dict(float_model: nn.Module, input_shape: tuple[int, ...], n_classes: int) -> dict[str, Any]:
    """The JSON form of ``float_model``'s fx trace (see the module docstring)."""
    module = fx.symbolic_trace(copy.deepcopy(float_model).cpu().eval())
    nodes, modules = [], {}
    for node in module.graph.nodes:
        if node.op not in _OPS:
            raise UserError(f"the traced model has a {node.op} node ({node.target!r}), which {ARCHITECTURE_NAME} "
                            "cannot hold; only layers are supported")  # fmt: skip
        target = str(node.target)
        if node.op == "call_module":
            modules[target] = _module_config(module.get_submodule(target))
        elif node.op == "call_function":
            if id(node.target) not in _FUNCTION_NAMES:
                raise UserError(f"function {getattr(node.target, '__name__', node.target)!r} cannot be stored in "
                                f"{ARCHITECTURE_NAME}; supported: {', '.join(_FUNCTIONS)}")  # fmt: skip
            target = _FUNCTION_NAMES[id(node.target)]
        nodes.append({"name": node.name, "op": node.op, "target": target, "args": _encode(node.args),
                      "kwargs": _encode(node.kwargs)})  # fmt: skip
    return {"format": _FORMAT, "version": _VERSION, "input_shape": [int(d) for d in input_shape],
            "n_classes": int(n_classes), "modules": modules, "nodes": nodes}  # fmt: skip


def save_architecture(path: str | Path, float_model: nn.Module, input_shape: tuple[int, ...], n_classes: int) -> Path:
    """Trace ``float_model`` and write its JSON form to ``path`` atomically."""
    return write_text(Path(path), json.dumps(architecture_dict(float_model, input_shape, n_classes), indent=1) + "\n")


class _Bad(Exception):
    """A file that does not hold a valid graph (turned into one UserError naming the file)."""


def _decode(value: Any, env: dict[str, fx.Node]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"node"} and isinstance(value["node"], str):
            if value["node"] not in env:
                raise _Bad(f"a node refers to {value['node']!r} before it is defined")
            return env[value["node"]]
        if set(value) == {"tuple"} and isinstance(value["tuple"], list):
            return tuple(_decode(v, env) for v in value["tuple"])
        if set(value) == {"dict"} and isinstance(value["dict"], dict):
            return {k: _decode(v, env) for k, v in value["dict"].items()}
        raise _Bad(f"an argument has the unknown form {sorted(value)!r}")
    if isinstance(value, list):
        return [_decode(v, env) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise _Bad(f"an argument of type {type(value).__name__}")


def _build_module(name: str, entry: Any) -> nn.Module:
    if not (isinstance(entry, dict) and entry.get("type") in _MODULE_TYPES and isinstance(entry.get("config"), dict)):
        raise _Bad(f"module {name!r} is not one of {', '.join(_MODULE_TYPES)} with a config")
    cls = _MODULE_TYPES[entry["type"]]
    config = {str(k): _decode(v, {}) for k, v in entry["config"].items()}
    unknown = set(config) - set(_MODULE_FIELDS[cls])
    if unknown:
        raise _Bad(f"module {name!r} ({cls.__name__}) has unknown arguments {sorted(unknown)}")
    try:
        return cls(**config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise _Bad(f"module {name!r} ({cls.__name__}): {' '.join(str(exc).split())[:120]}") from None


def architecture_from_dict(doc: Any) -> fx.GraphModule:
    """The float skeleton (a fresh ``fx.GraphModule``) from :func:`architecture_dict`'s form.

    Raises:
        _Bad: (internal) anything that is not that form; :func:`load_architecture` words it.
    """
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise _Bad(f"it is not a {_FORMAT!r} file")
    if doc.get("version") != _VERSION:
        raise _Bad(f"it has version {doc.get('version')!r}, this csq-hw reads version {_VERSION}")
    if not isinstance(doc.get("modules"), dict) or not isinstance(doc.get("nodes"), list):
        raise _Bad("it lacks its modules or nodes")
    modules = {str(name): _build_module(str(name), entry) for name, entry in doc["modules"].items()}
    graph, env = fx.Graph(), {}
    for entry in doc["nodes"]:
        if not isinstance(entry, dict) or entry.get("op") not in _OPS or not isinstance(entry.get("name"), str):
            raise _Bad("a node lacks its name or has an unknown op")
        op, target = entry["op"], entry.get("target")
        if op == "call_module" and target not in modules:
            raise _Bad(f"node {entry['name']!r} calls the undeclared module {target!r}")
        if op == "call_function":
            if target not in _FUNCTIONS:
                raise _Bad(f"node {entry['name']!r} calls {target!r}, not one of {', '.join(_FUNCTIONS)}")
            target = _FUNCTIONS[target]
        if op == "call_method" and target not in _METHODS:
            raise _Bad(f"node {entry['name']!r} calls the method {target!r}, not one of {', '.join(_METHODS)}")
        args, kwargs = _decode(entry.get("args", {"tuple": []}), env), _decode(entry.get("kwargs", {"dict": {}}), env)
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise _Bad(f"node {entry['name']!r} has malformed arguments")
        node = graph.create_node(op, target, args, kwargs, name=entry["name"])
        env[entry["name"]] = node
    try:
        graph.lint()
        return fx.GraphModule(modules, graph)
    except Exception as exc:  # noqa: BLE001 - any inconsistency in the graph
        raise _Bad(f"its graph is inconsistent ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from None


def load_architecture(path: str | Path) -> nn.Module:
    """The float skeleton saved by :func:`save_architecture` (a fresh module per call); a pickled
    ``architecture.pt`` from before version 2 is refused without being read."""
    path = Path(path)
    if path.suffix == ".pt":
        raise UserError(
            f"{path} is a pickle written by an older csq-hw, and unpickling can run code, so it is not "
            f"read; if you trust this run, convert it: csq-hw upgrade-run {path.parent} --trust"
        )
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found; the run directory lost its traced model (re-run `csq-hw train`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is unreadable ({type(exc).__name__}): truncated or damaged; re-run `csq-hw train` "
                        "or restore the file") from None  # fmt: skip
    try:
        return architecture_from_dict(doc)
    except _Bad as exc:
        raise UserError(f"{path} does not hold a csq-hw architecture: {exc}; re-run `csq-hw train` or restore the "
                        "file") from None  # fmt: skip


def upgrade_pickle(run_dir: str | Path) -> Path:
    """Convert a trusted run's pickled ``architecture.pt`` (before version 2) into ``architecture.json`` and point
    ``precisions.json`` at it. **This unpickles the file**: only for a run directory you trust."""
    run_dir = Path(run_dir)
    old = run_dir / PICKLED_ARCHITECTURE_NAME
    if not old.is_file():
        raise UserError(f"{run_dir} has no {PICKLED_ARCHITECTURE_NAME} to convert; it needs no upgrade")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            blob: Any = torch.load(old, map_location="cpu", weights_only=False)  # the user vouched for this file
    except Exception as exc:  # noqa: BLE001 - truncated or foreign pickle
        raise UserError(f"{old} is unreadable ({type(exc).__name__}): truncated or damaged") from None
    if not isinstance(blob, dict) or blob.get("format") != _FORMAT or not isinstance(blob.get("module"), nn.Module):
        raise UserError(f"{old} is not a csq-hw architecture file; nothing was converted")
    shape, n_classes = blob.get("input_shape"), blob.get("n_classes")
    doc = architecture_dict(blob["module"], tuple(shape or ()), int(n_classes or 0))
    new = write_text(run_dir / ARCHITECTURE_NAME, json.dumps(doc, indent=1) + "\n")
    _repoint(run_dir)
    return new


def _repoint(run_dir: Path) -> None:
    """``precisions.json`` names ``architecture.json``; ``summary.json``'s digests follow (when they matched)."""
    precisions, summary_path = run_dir / "precisions.json", run_dir / "summary.json"
    try:
        prec = json.loads(precisions.read_text())
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{run_dir}: precisions.json or summary.json is unreadable ({type(exc).__name__}); restore "
                        "them first") from None  # fmt: skip
    if not isinstance(prec, dict) or not isinstance(prec.get("model"), dict):
        raise UserError(f"{precisions} holds no model entry; restore the run's own precisions.json")
    if prec["model"].get("architecture") != PICKLED_ARCHITECTURE_NAME:
        return
    files = summary.get("files") if isinstance(summary, dict) else None
    for name in ("precisions.json", "exact_model.pt") if isinstance(files, dict) else ():
        if name in files and files[name] != sha256_file(run_dir / name):
            raise UserError(f"{run_dir / name} changed after training (its digest differs from summary.json's); "
                            "restore it before the upgrade")  # fmt: skip
    prec["model"]["architecture"] = ARCHITECTURE_NAME
    exact_path = run_dir / "exact_model.pt"
    exact = torch.load(exact_path, map_location="cpu", weights_only=True) if exact_path.is_file() else None
    if isinstance(exact, dict) and isinstance(exact.get("precisions"), dict):  # its copy of precisions.json follows
        exact["precisions"]["model"]["architecture"] = ARCHITECTURE_NAME
        torch_save(exact_path, exact)
    write_json(precisions, prec)
    if isinstance(files, dict):
        files.pop(PICKLED_ARCHITECTURE_NAME, None)
        files["precisions.json"] = sha256_file(precisions)
        if "exact_model.pt" in files and exact is not None:
            files["exact_model.pt"] = sha256_file(exact_path)
        files[ARCHITECTURE_NAME] = sha256_file(run_dir / ARCHITECTURE_NAME)
        write_json(summary_path, summary)
