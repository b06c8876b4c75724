"""The one owner of ``precisions.json`` (docs/precisions_v1.md): its JSON Schema, reading, consistency, writing.

Every reader (``csq-hw export``, ``csq-hw cost --run``, the sweep table) goes through :func:`read_precisions`, so a
file that is not JSON, not an object, of another version, missing a field, or internally inconsistent (``bits`` is
not the number of ``positions``, a span or fixed-point type that does not follow from them) is refused with one line
naming the file and the field, never a traceback and never a silently wrong cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import torch

from cost_models import LayerBits
from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import PRECISIONS_SCHEMA, PRECISIONS_VERSION, Precisions
from csq_hw.runtime.atomic_io import write_json

__all__ = [
    "PRECISIONS_SCHEMA",
    "PRECISIONS_VERSION",
    "PRECISIONS_NAME",
    "JSON_SCHEMA",
    "read_precisions",
    "validate_precisions",
    "consistency_errors",
    "write_precisions",
    "layer_bits",
    "SCHEMA_FILE",
]

PRECISIONS_NAME = "precisions.json"
#: the same JSON Schema as a file, shipped with the package for other tools (tests/test_bad_input.py keeps it equal)
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "precisions_v1.schema.json"

_INT = {"type": "integer"}
_INT_OR_NULL = {"type": ["integer", "null"]}
_QUANT = {
    "type": "object",
    "required": ["bits", "signed", "k", "i", "f", "range_exponent", "step_exponent", "rounding", "saturation"],
    "properties": {
        "bits": {"type": "integer", "minimum": 1},
        "signed": {"type": "boolean"},
        "k": {"enum": [0, 1]},
        "i": _INT,
        "f": _INT,
        "range_exponent": _INT,
        "step_exponent": _INT,
        "rounding": {"const": "RND"},
        "saturation": {"const": "SAT"},
        "searched": {"type": "boolean"},
    },
}
_WEIGHT = {
    "type": "object",
    "required": ["bits", "positions", "span_bits", "step_exponent", "step", "k", "i", "f", "int_min", "int_max"],
    "properties": {
        "bits": {"type": "integer", "minimum": 0},
        "positions": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "span_bits": {"type": "integer", "minimum": 0},
        "step_exponent": _INT_OR_NULL,
        "step": {"type": "number", "exclusiveMinimum": 0},
        "k": {"enum": [0, 1]},
        "i": _INT_OR_NULL,
        "f": _INT_OR_NULL,
        "int_min": _INT,
        "int_max": _INT,
    },
}
_BIAS = {
    "type": ["object", "null"],
    "required": ["bits", "step_exponent", "k", "i", "f"],
    "properties": {"bits": {"type": "integer", "minimum": 1}, "step_exponent": _INT, "k": _INT, "i": _INT, "f": _INT},
}
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "csq-hw precisions.json, version 1 (docs/precisions_v1.md)",
    "type": "object",
    "required": ["schema", "version", "model", "max_bits", "weight_step", "layers", "batchnorm", "full_precision"],
    "properties": {
        "schema": {"const": PRECISIONS_SCHEMA},
        "version": {"const": PRECISIONS_VERSION},
        "model": {
            "type": "object",
            "required": ["name", "input_shape", "n_classes"],
            "properties": {
                "name": {"type": "string"},
                "kwargs": {"type": "object"},
                "input_shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}},
                "n_classes": {"type": "integer", "minimum": 1},
            },
        },
        "max_bits": {"type": "integer", "minimum": 1, "maximum": 16},
        "weight_step": {"enum": ["pow2", "float"]},
        "layers": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "op", "weight_shape", "weight", "bias", "input"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "op": {"enum": ["linear", "conv1d", "conv2d"]},
                    "weight_shape": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                    "weight": _WEIGHT,
                    "bias": _BIAS,
                    "input": _QUANT,
                },
            },
        },
        "batchnorm": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "channels", "scale_step_exponent", "shift_step_exponent", "bits"],
                "properties": {
                    "name": {"type": "string"},
                    "channels": {"type": "integer", "minimum": 1},
                    "scale_step_exponent": _INT,
                    "shift_step_exponent": _INT,
                    "bits": {"type": "integer", "minimum": 2},
                },
            },
        },
        "full_precision": {"type": "array", "items": {"type": "string"}},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(JSON_SCHEMA)


def _where(path: Iterable[Any]) -> str:
    """``layers[1].input.k`` from a jsonschema error path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def _layer_errors(j: int, layer: dict[str, Any], max_bits: int, pow2: bool) -> list[str]:
    """What in ``layers[j]`` contradicts itself (docs/precisions_v1.md, the ``layers[j]`` table)."""
    at, w, q, errors = f"layers[{j}] ({layer['name']})", layer["weight"], layer["input"], []
    pos = w["positions"]
    if pos != sorted(set(pos)):
        errors.append(f"{at}.weight.positions {pos} are not sorted ascending without repeats")
    if any(p >= max_bits for p in pos):
        errors.append(f"{at}.weight.positions {pos} reach max_bits ({max_bits}) or beyond")
    if w["bits"] != len(pos):
        errors.append(f"{at}.weight.bits is {w['bits']} but {len(pos)} positions are listed")
    span = (max(pos) - min(pos) + 1) if pos else 0
    if w["span_bits"] != span:
        errors.append(f"{at}.weight.span_bits is {w['span_bits']}, positions give max - min + 1 = {span}")
    if pos and pow2:
        e = w["step_exponent"]
        if e is None:
            errors.append(f"{at}.weight.step_exponent is null in a pow2 file")
        else:
            want = {"i": e + max(pos) + 1, "f": -(e + min(pos)), "k": 1}
            for key, value in want.items():
                if w[key] != value:
                    errors.append(f"{at}.weight.{key} is {w[key]}, step_exponent and positions give {value}")
            if w["step"] != 2.0**e:
                errors.append(f"{at}.weight.step is {w['step']}, step_exponent {e} gives {2.0**e}")
    top = sum(1 << b for b in pos)
    if not -top <= w["int_min"] <= w["int_max"] <= top:
        errors.append(
            f"{at}.weight.int_min/int_max [{w['int_min']}, {w['int_max']}] lie outside the positions' range "
            f"[-{top}, {top}]"
        )
    if q["bits"] != q["k"] + q["i"] + q["f"]:
        errors.append(f"{at}.input.bits is {q['bits']}, k + i + f = {q['k'] + q['i'] + q['f']}")
    if q["signed"] != bool(q["k"]):
        errors.append(f"{at}.input.signed is {q['signed']} but k is {q['k']}")
    if q["range_exponent"] != q["i"] or q["step_exponent"] != -q["f"]:
        errors.append(f"{at}.input.range_exponent/step_exponent must be i and -f ({q['i']}, {-q['f']})")
    b = layer["bias"]
    if b is not None and (b["k"], b["i"], b["f"]) != (1, b["bits"] - 1 + b["step_exponent"], -b["step_exponent"]):
        errors.append(f"{at}.bias k/i/f do not follow from bits and step_exponent")
    return errors


def consistency_errors(prec: dict[str, Any]) -> list[str]:
    """Every internal contradiction of a schema-valid ``precisions.json`` dict, one sentence each (empty: none)."""
    pow2 = prec["weight_step"] == "pow2"
    errors = [e for j, layer in enumerate(prec["layers"]) for e in _layer_errors(j, layer, prec["max_bits"], pow2)]
    names = [layer["name"] for layer in prec["layers"]]
    if len(set(names)) != len(names):
        errors.append(f"layer names repeat: {names}")
    return errors


def validate_precisions(prec: Any, source: str = "precisions.json") -> dict[str, Any]:
    """``prec`` if it follows the schema and agrees with itself; else :class:`UserError` naming the first field."""
    if not isinstance(prec, dict):
        raise UserError(f"{source} holds a JSON {type(prec).__name__}, not an object; restore the file `csq-hw train` "
                        "wrote (docs/precisions_v1.md)")  # fmt: skip
    got = (prec.get("schema"), prec.get("version"))
    if got != (PRECISIONS_SCHEMA, PRECISIONS_VERSION):
        raise UserError(
            f"{source} has schema {got[0]!r} version {got[1]!r}; this csq-hw reads {PRECISIONS_SCHEMA!r} version "
            f"{PRECISIONS_VERSION} only (docs/precisions_v1.md)"
        )
    error = next(iter(sorted(_VALIDATOR.iter_errors(prec), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        raise UserError(
            f"{source}: {_where(error.absolute_path)}: {error.message}; restore the file `csq-hw train` wrote "
            "(docs/precisions_v1.md)"
        )
    errors = consistency_errors(prec)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UserError(f"{source}: {errors[0]}{more}; the file was edited or is damaged: restore the one "
                        "`csq-hw train` wrote")  # fmt: skip
    return prec


def read_precisions(path: str | Path) -> dict[str, Any]:
    """Read ``path`` (a ``precisions.json`` or a run directory holding one) and :func:`validate_precisions` it."""
    path = Path(path)
    if path.is_dir():
        path = path / PRECISIONS_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path} not found; give a run directory written by `csq-hw train`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is unreadable ({type(exc).__name__}); restore it or re-run `csq-hw train`") from None
    try:
        prec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); re-run `csq-hw train`") from None
    return validate_precisions(prec, str(path))


def write_precisions(path: str | Path, prec: dict[str, Any]) -> Path:
    """Validate ``prec`` (a bug if it fails: the trainer wrote a contradiction) and write it atomically."""
    return write_json(path, validate_precisions(prec, "the precisions about to be written"))


def layer_bits(prec: Any, weight_ints: dict[str, torch.Tensor] | None = None) -> dict[str, LayerBits]:
    """``{layer name: LayerBits}`` at a run's final precisions: what every cost model prices (the one conversion;
    ``csq-hw cost --run`` and the export report use it). ``weight_ints``: per layer the integer weights (units of
    ``2^step_exponent``) for the value-dependent models (EBOPs, FPGA); absent layers are priced from widths."""

    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    out = {}
    for la in Precisions.of(prec).layers:
        values = (weight_ints or {}).get(la.name)
        out[la.name] = LayerBits(
            weight=t(la.weight.bits),
            act=t(la.input.bits),
            weight_span=t(la.weight.span_bits),
            bias=t(la.bias.bits if la.bias else 0),
            weight_signed=True,
            act_signed=bool(la.input.k),
            weight_values=None if values is None else values.to(torch.float64),
        )
    return out
