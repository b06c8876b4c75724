"""What the plots read from a run: its precisions (typed), readable layer labels, per-layer resource costs.

Layer labels are the module names the run records in ``precisions.json`` (``fc1``, ``net.0``; ``0`` when that is
the module's name in an ``nn.Sequential``), with the op and shape under them (``0\\nlinear\\n64→32``), so tick labels
always start with the model's own name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import LayerPrecision, Precisions

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from csq_hw.api import LoadedRun

__all__ = ["PrecisionSource", "CostSource", "RESOURCES", "run_precisions", "layer_label", "layer_labels",
           "run_layer_costs", "resource_frame"]  # fmt: skip

#: a run directory, its precisions.json, the JSON dict, the typed view or a loaded run
PrecisionSource = Union[str, Path, dict, Precisions, "LoadedRun"]
#: per-layer costs: a run directory, a table (index layers, one column per resource; ``cost_table`` output too) or
#: ``{layer: {resource: value}}``
CostSource = Union[str, Path, "pd.DataFrame", Mapping]
#: the FPGA resources of the ``lut``/``dsp``/``ff``/``bram`` cost models (docs/cost_models.md)
RESOURCES = ("lut", "dsp", "ff", "bram")


def run_precisions(source: PrecisionSource) -> Precisions:
    """The typed precisions of ``source`` (files validated by :func:`csq_hw.handoff.precisions.read_precisions`)."""
    if isinstance(source, Precisions):
        return source
    if isinstance(source, dict):
        return Precisions.of(source)
    if hasattr(source, "precisions") and hasattr(source, "run_dir"):
        return Precisions.of(source.precisions)
    from csq_hw.handoff.precisions import read_precisions

    path = Path(source)
    if path.is_dir():
        path = path / "precisions.json"
    if not path.is_file():
        raise UserError(f"{path} not found: give a finished run directory or its precisions.json")
    return Precisions.of(read_precisions(path))


def layer_label(layer: LayerPrecision, lines: int = 3) -> str:
    """The module name, then op and shape: ``fc1\nlinear\n64→32`` (``lines=3``, for x ticks) or
    ``fc1\nlinear 64→32`` (``lines=2``, for y ticks); convolutions add the kernel (``32→32 k3``)."""
    shape = layer.weight_shape
    detail = [layer.op]
    if len(shape) >= 2:
        detail.append(f"{shape[1]}→{shape[0]}" + (" k" + "x".join(str(k) for k in shape[2:]) if len(shape) > 2 else ""))
    return "\n".join([layer.name, *([" ".join(detail)] if lines < 3 else detail)])


def layer_labels(source: PrecisionSource, lines: int = 3) -> list[str]:
    """:func:`layer_label` of every CSQ layer of ``source``, in the run's order."""
    return [layer_label(la, lines) for la in run_precisions(source).layers]


def run_layer_costs(
    run_dir: str | Path | LoadedRun, names: Sequence[str] = RESOURCES, layer_widths: bool = False
) -> pd.DataFrame:
    """Per-layer costs of a finished run (as ``csq-hw cost --run``): index = layer names (the run's order),
    one column per cost model in ``names`` (its unit: e.g. LUT, DSP, FF, BRAM36). With ``layer_widths`` only the
    layer widths are priced, else the exact integer weights of ``exact_model.pt``."""
    import pandas as pd

    from cost_models import per_layer_costs, trace_geometry
    from csq_hw.api import load_run
    from csq_hw.handoff.precisions import layer_bits
    from csq_hw.quant.exact import float_skeleton

    run = run_dir if hasattr(run_dir, "layer_bits") else load_run(run_dir)
    typed = Precisions.of(run.precisions)
    order = [la.name for la in typed.layers]
    model = float_skeleton(typed.model, run.run_dir)
    geometry = trace_geometry(model, typed.model.input_shape, include=lambda n, _m: n in set(order))
    bits = layer_bits(run.precisions) if layer_widths else run.layer_bits()
    per = per_layer_costs(geometry, bits, list(names))
    return pd.DataFrame({name: [per[name].get(layer, 0.0) for layer in order] for name in names}, index=order)


def resource_frame(costs: CostSource, names: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Normalise ``costs`` to a numeric table (index layers, columns ``names``; default: the FPGA resources it has)
    and tick labels. ``cost_table`` columns such as ``"lut [LUT]"`` become ``lut``; its ``TOTAL`` row is dropped."""
    import pandas as pd

    labels: list[str] | None = None
    if isinstance(costs, (str, Path)) or hasattr(costs, "layer_bits"):
        df = run_layer_costs(costs, names or RESOURCES)
        labels = layer_labels(costs)
    elif isinstance(costs, pd.DataFrame):
        df = costs.rename(columns=lambda c: str(c).split(" [", 1)[0])
        df = df.loc[[i for i in df.index if str(i) != "TOTAL"]]
        if "op" in df.columns:  # cost_table output: name and op
            labels = [f"{i}\n{op}" if op else str(i) for i, op in zip(df.index, df["op"], strict=True)]
    elif isinstance(costs, Mapping):
        df = pd.DataFrame.from_dict({k: dict(v) for k, v in costs.items()}, orient="index")
    else:
        raise UserError(f"costs of type {type(costs).__name__}: give a run directory, a DataFrame or a dict")
    if names is None:
        names = [r for r in RESOURCES if r in df.columns]
    missing = [n for n in names if n not in df.columns]
    if missing or not names:
        have = ", ".join(str(c) for c in df.columns)
        raise UserError(f"no column {', '.join(missing) or 'lut/dsp/ff/bram'} in the costs; columns: {have}")
    out = df[list(names)].astype(float)
    return out, labels if labels is not None else [str(i) for i in out.index]
