"""Analytic latency models of bit-serial and bit-flexible accelerators, used to generate lookup tables.

Each model gives the cycles to run one layer on a batch of ``B`` samples at integer weight bits ``w`` and
activation bits ``a`` as a **roofline**: ``cycles = max(compute, memory)`` (compute and memory reads overlap, as in
BISMO's fetch/execute/result stages), with ``memory = bits moved / interface bits per cycle``. ``w`` is
``LayerBits.weight`` (selected bit positions; the sign is handled by the datapath: BISMO and Loom weigh the
top plane negatively), ``a`` is ``LayerBits.act``. Conv layers run as matrix products (im2col); ``P`` = output
positions, ``K`` = fan-in, ``C`` = output channels. Confidence tags as in the project reference: [V] verified
in the cited code or abstract, [R] recalled (a documented assumption).

* **Stripes** (Judd et al., MICRO 2016): activations bit-serial, weights 16 b parallel; a 16-tile DaDianNao
  layout (4,096 16-b MACs/cycle) with 16x more serial lanes, so conv compute = ceil(MACs*B / 65,536) * a
  (ideal 16/a speed-up [V abstract]); fully-connected layers see no gain: ceil(MACs*B / 4,096) [R]. Weights
  above 16 b take ceil(w/16) passes. Memory: 16-b containers, 4,096 bit/cycle eDRAM [R]. 980 MHz [R].
* **Loom** (Sharify et al., DAC 2018, arXiv:1706.07853): weights and activations serial, ~128 16bx16b MACs/cycle
  equivalent [V abstract]; conv = ceil(MACs*B / 32,768) * w * a (ideal 256/(w*a)), FC = ceil(MACs*B / 2,048) * w
  (FC is weight-serial only) [V abstract]. Memory at reduced precision, 256 bit/cycle [R]. 1 GHz [R].
* **BISMO** (Umuroglu et al., FPL 2018; ``EECS-NTNU/bismo``, BSD-3): a Dm x Dk x Dn binary array computes a
  w-by-a-bit product as w*a binary matrix products: execute = ceil(C/Dm) * ceil(K/Dk) * ceil(B*P/Dn) * w * a
  (``doc/instrumentation.md``: a w-by-a bit MAC is 2*w*a binops, 2*Dm*Dk*Dn binops/cycle) [V]; default
  2 x 64 x 2 at 200 MHz on Ultra96 (``Makefile``) [V]; memory reads bit-packed at 64 bit/cycle [R].
* **Bit Fusion** (Sharma et al., ISCA 2018; ``hsharma35/bitfusion``): 16 x 32 Fusion Units of 16 2-bit
  BitBricks, one 8x8 MAC per unit per cycle; narrower operands fuse: speed factor floor(8/max(w,2)) *
  floor(8/max(a,2)) (``get_perf_factor``) [V]; wider than 8 b takes ceil(b/8) passes per operand [R]; compute =
  ceil(MACs*B / (512 * factor)). Edge config (``bf_e_conf.ini``): 500 MHz, 192-bit memory interface [V]; operands
  stored in 2/4/8-bit or 8k-bit containers [R].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import CostError, LayerGeometry

__all__ = ["Accelerator", "ACCELERATORS", "accelerator", "layer_cycles", "GRID_MAX_BITS"]

GRID_MAX_BITS = 32  # generated tables cover w, a in 0..32


@dataclass(frozen=True)
class Accelerator:
    """Published parameters of one accelerator (see the module docstring for sources)."""

    name: str
    clock_mhz: float
    mem_bits_per_cycle: float
    description: str


ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in [
        Accelerator("stripes", 980.0, 4096.0, "Stripes: activation-serial, 16-tile DaDianNao layout"),
        Accelerator("loom", 1000.0, 256.0, "Loom: weight- and activation-serial, 128 16b-MAC/cycle equivalent"),
        Accelerator("bismo", 200.0, 64.0, "BISMO 2x64x2 binary array on Ultra96 at 200 MHz"),
        Accelerator("bitfusion", 500.0, 192.0, "Bit Fusion edge: 16x32 Fusion Units, 500 MHz, 192-bit interface"),
    ]
}


def accelerator(name: str) -> Accelerator:
    """The accelerator called ``name``; a one-line :class:`CostError` listing the known ones otherwise."""
    try:
        return ACCELERATORS[name]
    except KeyError:
        raise CostError(
            f"unknown accelerator {name!r}; choose one of: {', '.join(ACCELERATORS)} (or latency:table=PATH)"
        ) from None


def _container(b: np.ndarray, step: int) -> np.ndarray:
    return step * np.ceil(b / step)


def _bitfusion_factor(b: np.ndarray) -> np.ndarray:
    b = np.maximum(b, 2)
    return np.where(b <= 8, np.floor(8 / b), 1.0 / np.ceil(b / 8))


def _bitfusion_store(b: np.ndarray) -> np.ndarray:
    b = np.maximum(b, 2)
    return np.where(b <= 2, 2, np.where(b <= 4, 4, 8 * np.ceil(b / 8)))


def layer_cycles(acc: Accelerator, geom: LayerGeometry, w: np.ndarray, a: np.ndarray, batch: int = 1) -> np.ndarray:
    """Cycles for one layer at integer bit arrays ``w``/``a`` (broadcast), batch ``batch``."""
    w = np.asarray(w, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    macs = geom.macs * batch
    fc = geom.op == "linear"
    n_in = geom.n_inputs * batch
    if acc.name == "stripes":
        passes_w = np.maximum(np.ceil(w / 16), 1)
        compute = passes_w * (math.ceil(macs / 4096) * np.ones_like(a) if fc else math.ceil(macs / 65536) * a)
        traffic = geom.n_weights * 16 * passes_w + n_in * _container(np.maximum(a, 1), 16)
    elif acc.name == "loom":
        compute = math.ceil(macs / 2048) * w * np.ones_like(a) if fc else math.ceil(macs / 32768) * w * a
        traffic = geom.n_weights * w + n_in * a
    elif acc.name == "bismo":
        dm, dk, dn = 2, 64, 2
        tiles = (
            math.ceil(geom.out_channels / dm) * math.ceil(geom.fan_in / dk) * math.ceil(batch * geom.output_pixels / dn)
        )
        compute = tiles * w * a
        traffic = geom.n_weights * w + n_in * a
    elif acc.name == "bitfusion":
        compute = np.ceil(macs / (512 * _bitfusion_factor(w) * _bitfusion_factor(a)))
        traffic = geom.n_weights * _bitfusion_store(w) + n_in * _bitfusion_store(a)
    else:  # pragma: no cover - guarded by accelerator()
        raise CostError(f"no latency model for accelerator {acc.name!r}")
    memory = np.ceil(traffic / acc.mem_bits_per_cycle)
    return np.maximum(compute, memory)
