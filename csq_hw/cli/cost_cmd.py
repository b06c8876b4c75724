"""``csq-hw cost``: a per-layer table of hardware costs for a model at uniform bits or for a trained run.

Examples::

    csq-hw cost --model jet-mlp --bits 6                 # 6-bit weights and activations, every built-in model
    csq-hw cost --model jet-mlp --bits 6,8 --cost bops --cost latency:bismo --cost lut
    csq-hw cost --run runs/jet-bops --json               # a trained run (precisions.json), machine-readable
    csq-hw cost --model jet-mlp --bits 4 --regimes --cost latency:bismo,b16   # per-layer latency terms and regime
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from cost_models import LayerBits, LayerGeometry, trace_geometry
from cost_models.report import cost_table, default_report_models
from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import Precisions
from csq_hw.handoff.run_summary import read_summary
from csq_hw.text_table import MISSING, column_formatter, is_missing, markdown_table, render_table

from .output_args import add_table_format_arg

HELP = "Print per-layer hardware costs (size, BOPs, EBOPs, latency, FPGA, energy) of a model or a trained run."
MAX_BITS = 32
_GEOMETRY_UNITS = {"macs": "MAC", "w_bits": "bit", "a_bits": "bit"}  # the units of cost_table's first columns


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="architecture name (jet-mlp, digits-mlp, digits-cnn, mnist1d-cnn, resnet20)")
    src.add_argument("--run", type=Path, help="trained run directory holding precisions.json")
    p.add_argument("--bits", help="uniform bits with --model: W (weights and activations) or W,A; 1..32")
    p.add_argument("--bias-bits", type=float, default=0.0, help="bias bits with --model (default 0: not counted)")
    p.add_argument(
        "--cost",
        action="append",
        metavar="KIND",
        help="cost model (repeatable), e.g. bops, latency:bismo, lut:resource,rf4; default: all built-ins",
    )
    p.add_argument(
        "--regimes",
        action="store_true",
        help="instead of the cost table: per layer, the latency terms (compute, fill, weight load, activation "
        "stream) and the binding regime of each latency:ACCELERATOR model among --cost (default: all four)",
    )
    p.add_argument(
        "--layer-widths",
        action="store_true",
        help="with --run: price layer widths only, ignoring the exact weights in exact_model.pt",
    )
    add_table_format_arg(p)


def parse_bits(text: str) -> tuple[float, float]:
    """``"6"`` -> (6, 6); ``"6,8"`` -> (6, 8); integers in 1..32."""
    parts = text.split(",")
    if len(parts) not in (1, 2):
        raise UserError(f"--bits {text!r}: give W or W,A (e.g. 6 or 6,8)")
    try:
        vals = [int(x) for x in parts]
    except ValueError:
        raise UserError(f"--bits {text!r}: bits must be integers (e.g. 6 or 6,8)") from None
    if any(not 1 <= v <= MAX_BITS for v in vals):
        raise UserError(f"--bits {text!r}: bits must be between 1 and {MAX_BITS}")
    return float(vals[0]), float(vals[-1])


def _from_model(args: argparse.Namespace):
    from csq_hw.zoo.models import build_model, model_info

    if not args.bits:
        raise UserError("--model needs --bits W or W,A (e.g. --bits 6)")
    w, a = parse_bits(args.bits)
    if not (math.isfinite(args.bias_bits) and (args.bias_bits == 0 or args.bias_bits >= 1)):
        raise UserError(f"--bias-bits {args.bias_bits:g}; give 0 (biases not counted) or a width of at least 1 bit")
    info = model_info(args.model)
    if info.from_kwargs:
        raise UserError(f"--model {args.model}: a spec is sized by its data; price a trained run with --run, or "
                        "give a zoo name")  # fmt: skip
    geometry = trace_geometry(build_model(args.model), info.input_shape)
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    bits = {g.name: LayerBits(t(w), t(a), t(w), t(args.bias_bits if g.n_bias else 0.0)) for g in geometry}
    meta = {"model": args.model, "w_bits": w, "a_bits": a, "bias_bits": args.bias_bits}
    return geometry, bits, meta


def load_precisions(run: Path) -> dict:
    """``run/precisions.json`` after checking schema, version and consistency (docs/precisions_v1.md)."""
    from csq_hw.handoff.precisions import read_precisions

    return read_precisions(run / "precisions.json")


def _exact_weights(run: Path, prec: dict) -> dict[str, torch.Tensor]:
    path = run / "exact_model.pt"
    if not path.is_file():
        return {}
    from csq_hw.quant.exact import load_exact_blob

    sd = load_exact_blob(path)["state_dict"]
    layers = Precisions.of(prec).layers
    return {la.name: torch.round(sd[f"{la.name}.layer.weight"].double() / la.weight.step) for la in layers
            if f"{la.name}.layer.weight" in sd}  # fmt: skip


def _from_run(args: argparse.Namespace):
    from csq_hw.quant.exact import float_skeleton

    prec = load_precisions(args.run)
    typed = Precisions.of(prec)
    names = {la.name for la in typed.layers}
    model = float_skeleton(typed.model, args.run)
    geometry = trace_geometry(model, typed.model.input_shape, include=lambda n, _m: n in names)
    missing = names - {g.name for g in geometry}
    if missing:
        raise UserError(f"{args.run}/precisions.json names layers {sorted(missing)} that {typed.model.name} lacks")
    from csq_hw.handoff.precisions import layer_bits

    values = {} if args.layer_widths else _exact_weights(args.run, prec)
    bits = layer_bits(prec, values)
    meta = {"run": str(args.run), "model": typed.model.name, "exact_weights": bool(values)}
    return geometry, bits, meta


def run(args: argparse.Namespace) -> int:
    if args.run is not None and args.bits:
        raise UserError("--bits applies to --model; a run's bits come from its precisions.json")
    geometry, bits, meta = _from_run(args) if args.run is not None else _from_model(args)
    if args.regimes:
        print(render_regimes(geometry, bits, meta, args.cost, args.format))
        return 0
    names = args.cost or default_report_models()
    table = cost_table(geometry, bits, names)
    notes = _pricing_notes(args.run, meta) if args.run is not None else []
    if notes and args.format == "json":
        meta = {**meta, "pricing_notes": notes}
    print(render_costs(table, meta, args.format))
    if notes and args.format in ("table", "md"):  # on stderr: stdout stays the table
        for n in notes:
            print(textwrap.fill(f"note: {n}", width=120, subsequent_indent="  "), file=sys.stderr)
    return 0


def _pricing_notes(run: Path, meta: dict) -> list[str]:
    """Which pricing is the guarantee, and where the run's own record says another pricing disagrees."""
    summary = read_summary(run, required=False)  # a damaged record: a one-line error, not a traceback
    if summary is None:
        return []
    single = {"final_cost": summary.get("final_cost"), "cost_agreement": summary.get("cost_agreement")}
    entries = summary.get("budgets") or ([summary["budget"] | single] if isinstance(summary.get("budget"), dict)
                                         else [])  # fmt: skip
    how = "the exact weights" if meta.get("exact_weights") else "the layer widths"
    notes = []
    for b in entries:
        if b.get("final_cost") is None:
            continue
        notes.append(f"the budget {b.get('spec', b['cost'])} is guaranteed at its own pricing (layer widths: "
                     f"{b['final_cost']:,.6g} {b.get('unit', '')}); this table prices with {how}")  # fmt: skip
        note = (b.get("cost_agreement") or {}).get("note")
        if note:
            notes.append(note)
    return notes


def render_regimes(geometry: Sequence[LayerGeometry], bits: Mapping[str, LayerBits], meta: dict,
                   names: list[str] | None, fmt: str = "table") -> str:  # fmt: skip
    """``--regimes``: one :func:`cost_models.regimes.regime_table` per accelerator latency model among ``names``
    (default: ``latency:stripes``, ``latency:loom``, ``latency:bismo``, ``latency:bitfusion``), each followed by
    its regime counts; ``json``: ``{"meta": meta, "regimes": {model: {"counts": {...}, "layers": {...}}}}``."""
    from cost_models.accelerators import ACCELERATORS
    from cost_models.regimes import accelerator_models, regime_counts, regime_table

    models = accelerator_models(names or [f"latency:{a}" for a in ACCELERATORS])
    if not models:
        raise UserError(f"--regimes needs a latency:ACCELERATOR cost (e.g. --cost latency:bismo,b16); got "
                        f"{', '.join(names or [])}")  # fmt: skip
    tables = [(m, regime_table(m, geometry, bits)) for m in models]
    if fmt == "json":
        out = {m.name: {"accelerator": m.acc.summary(), "batch": m.batch, "unit": m.unit, "counts": regime_counts(t),
                        "layers": json.loads(render_costs(t, {}, "json"))["costs"]} for m, t in tables}  # fmt: skip
        return json.dumps({"meta": meta, "regimes": out}, indent=1)
    blocks = []
    for model, table in tables:
        counts = ", ".join(f"{r} {n}" for r, n in regime_counts(table).items())
        head = {**meta, "cost": model.name, "accelerator": model.acc.summary(), "batch": model.batch}
        if fmt == "csv":
            blocks.append(f"# {model.name}: {counts}\n" + render_costs(table, head, "csv"))
        else:
            blocks.append(render_costs(table, head, fmt) + f"\nregimes ({model.name}): {counts}")
    return "\n\n".join(blocks)


def render_costs(table, meta: dict, fmt: str = "table", max_width: int = 120) -> str:
    """The per-layer cost table (:func:`cost_models.report.cost_table`: one row per layer plus ``TOTAL``, columns
    ``"name [unit]"``) as text.

    ``table``: aligned, one number style per column, a dash where a total is not defined (the TOTAL row's bits),
    lines within ``max_width`` characters (further columns in further blocks, each repeating the layer name),
    preceded by one line of ``meta``. ``csv``: pandas CSV (empty cells where undefined). ``json``: ``{"meta":
    meta, "costs": {layer: {column: number}}}`` with ``null`` where undefined. ``md``: a GitHub Markdown table.
    """
    if fmt == "json":
        records = {layer: {k: (None if is_missing(v) else v) for k, v in row.items()}
                   for layer, row in table.to_dict(orient="index").items()}  # fmt: skip
        return json.dumps({"meta": meta, "costs": records}, indent=1)
    if fmt == "csv":
        return table.to_csv().rstrip("\n")
    header = [table.index.name or "layer", *(f"{c} [{_GEOMETRY_UNITS[c]}]" if c in _GEOMETRY_UNITS else str(c)
                                             for c in table.columns)]  # fmt: skip
    cells, align = [[str(name)] for name in table.index], "l"
    for col in table.columns:
        values = table[col].tolist()
        numeric = all(is_missing(v) or isinstance(v, (int, float)) for v in values)
        show = column_formatter(values) if numeric else (lambda v: MISSING if is_missing(v) else str(v))
        for row, v in zip(cells, values, strict=True):
            row.append(show(v))
        align += "r" if numeric else "l"
    if fmt == "md":
        return "\n".join(markdown_table(header, cells, align))
    lines = render_table(header, cells, align, max_width=max_width, key_columns=1)
    return "\n".join([", ".join(f"{k}={v}" for k, v in meta.items()), *lines])
