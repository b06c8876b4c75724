"""Matplotlib figures for runs and sweeps (never imported by ``import csq_hw``).

Every ``plot_*`` function follows matplotlib's convention: ``ax=None`` draws into a new
:class:`matplotlib.figure.Figure` (constrained layout, no pyplot state: inline notebook figures keep working, nothing
switches backends), ``ax=`` draws into your Axes (``plot_fronts``: one Axes per cost model); each returns the
**Figure** (in a notebook it displays itself). ``path=None`` writes nothing; with a path the figure is saved
atomically (``out/x.png`` -> PNG, ``out/x`` -> PNG and SVG; :func:`save_figure`).

Common to all: a value axis is logarithmic when its positive data span a decade or more (values <= 0 are then left
out with a note, never drawn at minus infinity), legends sit outside the data, bit axes have integer ticks, layers
are labelled with the module names the run records (op and shape below the name).

* :func:`plot_fronts`: accuracy against cost per cost model, each method's Pareto front (sweep tables).
* :func:`plot_layer_bits`: weight bits, weight span and input bits per layer of a run.
* :func:`plot_bit_map`: layer x bit-position map of the kept bit planes, sign and span (:func:`bit_map`).
* :func:`plot_layer_resources`: LUT/DSP/FF/BRAM per layer, counts or percent of an FPGA part.
* :func:`plot_device_share`: the model's totals as percent of an FPGA part (``cost_models.fpga_parts``).
* :func:`plot_cost_curves`: several cost models against one swept quantity (e.g. uniform bits).
* :func:`plot_layer_regimes`: per-layer latency on a bit-serial accelerator, coloured by the binding term (the table
  of :func:`cost_models.regimes.regime_table`), each term marked.
* :func:`plot_estimate_vs_synthesis`: cost estimates against a synthesis report (the table of
  ``hls.synth_compare.estimate_vs_synthesis``), one point per resource and layer.
"""

from csq_hw.plots.bit_map import BitMap, bit_map, plot_bit_map
from csq_hw.plots.cost_curves import plot_cost_curves
from csq_hw.plots.device_share import device_totals, plot_device_share
from csq_hw.plots.fronts import plot_fronts
from csq_hw.plots.layer_bits import plot_layer_bits
from csq_hw.plots.regimes import plot_layer_regimes
from csq_hw.plots.resources import plot_layer_resources
from csq_hw.plots.run_data import layer_labels, run_layer_costs, run_precisions
from csq_hw.plots.save import FORMATS, save_figure
from csq_hw.plots.synthesis import plot_estimate_vs_synthesis

__all__ = [
    "FORMATS",
    "BitMap",
    "bit_map",
    "device_totals",
    "layer_labels",
    "plot_bit_map",
    "plot_cost_curves",
    "plot_device_share",
    "plot_estimate_vs_synthesis",
    "plot_fronts",
    "plot_layer_bits",
    "plot_layer_regimes",
    "plot_layer_resources",
    "run_layer_costs",
    "run_precisions",
    "save_figure",
]
