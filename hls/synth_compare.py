"""csq-hw's cost estimates beside the synthesis report: one row per resource (totals, then per layer), a CSV, a plot.

Data flow: ``csq_report.json``'s ``costs`` (:func:`hls.costs.cost_estimates`: ``{"models": {name: total},
"da4ml": {"total", "latency", "complete", "layers": {layer: {"cost", "instances", "latency"}}}}``) and a
:class:`hls.synth_report.SynthesisReport` -> :func:`estimate_vs_synthesis` (a pandas DataFrame) ->
``estimate_vs_synthesis.csv`` + ``.png`` (:func:`csq_hw.plots.plot_estimate_vs_synthesis`).
:func:`hls.synth_report.synthesis_section` does all of it for a built project (``csq_report.json``'s
``"synthesis"``).

Rows, only where both numbers exist:

* totals (``layer`` = ``TOTAL``): each FPGA cost model (``lut``, ``ff``, ``dsp``, ``bram`` and option variants such
  as ``lut:da``) against the report's ``lut``, ``ff``, ``dsp`` and ``bram36`` (BRAM36 against ceil(BRAM_18K / 2));
  da4ml's ``total`` (sum of adder bit widths, ~LUT) against ``lut`` and its ``latency`` (adder depth, in adder
  levels) against ``latency_max`` (cycles), only when da4ml estimated every layer (``complete``);
* per layer: da4ml's ``cost * instances`` against the layer's ``lut``, its depth against the layer's latency; our
  layer names become hls4ml's through ``hls_layer_names`` (a name not in it is looked up as is).

``stage``: ``hls`` (the HLS tool's report, totals and layers) or ``post-synthesis`` (Vivado ``synth_design`` /
Quartus fit, totals only). ``ratio`` = estimate / synthesis; where synthesis is 0 it is 1.0 for an estimate of 0,
else inf. The bit-serial accelerator latencies (``latency:*`` cost models) are not hls4ml cycles: not compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from pathlib import Path
from typing import Any

import pandas as pd

from cost_models.fpga import RESOURCES

from .synth_types import SynthesisReport

__all__ = ["estimate_vs_synthesis", "write_estimate_vs_synthesis", "COLUMNS", "TABLE_NAME"]

COLUMNS = ("layer", "hls_layer", "resource", "model", "stage", "estimate", "estimate_unit", "synthesis",
           "synthesis_unit", "ratio")  # fmt: skip
TABLE_NAME = "estimate_vs_synthesis"  # .csv and .png next to csq_report.json
ORDER = ("lut", "ff", "dsp", "bram", "latency")
_TOTAL_KEY = {"lut": "lut", "ff": "ff", "dsp": "dsp", "bram": "bram36", "latency": "latency_max"}
_LAYER_KEY = {"lut": "lut", "ff": "ff", "dsp": "dsp", "bram": "bram36", "latency": "latency"}
_DA4ML_UNIT = {"lut": "adder bits (~LUT)", "latency": "adder levels"}

Estimate = tuple[str, str, float, str]  # resource, model, value, unit


def _is_number(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(float(x))


def _ratio(estimate: float, synthesis: float) -> float:
    if synthesis == 0:
        return 1.0 if estimate == 0 else math.inf
    return estimate / synthesis


def _total_estimates(costs: Mapping[str, Any]) -> list[Estimate]:
    out: list[Estimate] = []
    for name, value in (costs.get("models") or {}).items():
        base = str(name).split(":")[0]
        if base in RESOURCES and _is_number(value):
            out.append((base, str(name), float(value), RESOURCES[base]))
    da = costs.get("da4ml")
    if isinstance(da, Mapping) and da.get("complete"):
        for resource, key in (("lut", "total"), ("latency", "latency")):
            if _is_number(da.get(key)):
                out.append((resource, "da4ml", float(da[key]), _DA4ML_UNIT[resource]))
    return sorted(out, key=lambda e: (ORDER.index(e[0]), e[1]))


def _layer_estimates(costs: Mapping[str, Any]) -> dict[str, list[Estimate]]:
    da = costs.get("da4ml")
    layers = da.get("layers") if isinstance(da, Mapping) else None
    out: dict[str, list[Estimate]] = {}
    for name, entry in (layers or {}).items():
        if not isinstance(entry, Mapping) or not _is_number(entry.get("cost")):
            continue  # skipped by da4ml
        rows = [("lut", "da4ml", float(entry["cost"]) * float(entry.get("instances", 1)), _DA4ML_UNIT["lut"])]
        if _is_number(entry.get("latency")):
            rows.append(("latency", "da4ml", float(entry["latency"]), _DA4ML_UNIT["latency"]))
        out[str(name)] = rows
    return out


def _unit(report: SynthesisReport, resource: str, stage: str) -> str:
    if resource == "latency":
        return f"{report.units.get('latency', 'cycles')} (worst case)"
    if resource == "bram":
        return "BRAM36 (ceil(BRAM_18K / 2))" if stage == "hls" else "BRAM36 (tiles after logic synthesis)"
    return report.units.get(resource, resource)


def estimate_vs_synthesis(
    estimates: Mapping[str, Any],
    report: SynthesisReport | Mapping[str, Any],
    layer_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The comparison table (columns :data:`COLUMNS`; rows as the module docstring lists them).

    Args:
        estimates: ``csq_report.json``'s ``costs`` (what :func:`hls.costs.cost_estimates` returns); a cost model
            that failed (an ``"error: ..."`` string) or da4ml not installed gives no row.
        report: the synthesis report, or its :meth:`~hls.synth_report.SynthesisReport.to_dict` (e.g. read back from
            ``csq_report.json``'s ``synthesis``).
        layer_names: ``csq_report.json``'s ``hls_layer_names`` (our layer -> hls4ml layer); None: the same names.
    """
    rep = report if isinstance(report, SynthesisReport) else SynthesisReport.from_dict(dict(report))
    names = dict(layer_names or {})
    rows: list[dict[str, Any]] = []

    def add(layer: str, hls: str, stage: str, est: Estimate, synthesis: Any) -> None:
        if not _is_number(synthesis):
            return
        resource, model, value, unit = est
        s = float(synthesis)
        rows.append({"layer": layer, "hls_layer": hls, "resource": resource, "model": model, "stage": stage,
                     "estimate": value, "estimate_unit": unit, "synthesis": s,
                     "synthesis_unit": _unit(rep, resource, stage), "ratio": _ratio(value, s)})  # fmt: skip

    totals = _total_estimates(estimates)
    for stage, numbers in (("hls", rep.totals), ("post-synthesis", rep.post_synthesis or {})):
        for est in totals:
            add("TOTAL", "", stage, est, numbers.get(_TOTAL_KEY[est[0]]))
    for layer, ests in _layer_estimates(estimates).items():
        hls = names.get(layer, layer)
        numbers = rep.per_layer.get(hls)
        for est in ests if numbers else ():
            add(layer, hls, "hls", est, numbers.get(_LAYER_KEY[est[0]]))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_estimate_vs_synthesis(out_dir: str | Path, table: pd.DataFrame, title: str | None = None) -> dict[str, str]:
    """Write ``table`` as ``estimate_vs_synthesis.csv`` and its plot as ``.png`` in ``out_dir`` (each atomically);
    returns ``{"csv": name, "png": name}`` (names relative to ``out_dir``)."""
    from csq_hw.plots import plot_estimate_vs_synthesis
    from csq_hw.runtime.atomic_io import write_text

    out = Path(out_dir)
    write_text(out / f"{TABLE_NAME}.csv", table.to_csv(index=False))
    plot_estimate_vs_synthesis(table, out / f"{TABLE_NAME}.png", title=title)
    return {"csv": f"{TABLE_NAME}.csv", "png": f"{TABLE_NAME}.png"}
