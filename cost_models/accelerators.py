"""Parameters of the bit-serial and bit-flexible accelerators priced by ``latency:NAME``, with their sources.

An :class:`Accelerator` is a processing array plus a memory system: ``dm x dk x dn`` array lanes (output
channels x reduction x output columns, BISMO's ``Dm x Dk x Dn``), one interface of ``bw`` bits per cycle that
carries every weight, input and output, and on-chip weight and activation buffers. The latency model that uses
them is :mod:`cost_models.bitserial`. Every default is overridable in the spec string
(``latency:bismo,dm16,dk256,dn16,bw256``; :func:`with_options`).

Confidence tags as in the project reference: [V] verified in the cited code, document or abstract; [R] recalled
from the paper, unverified; [A] our assumption where no source gives a value.

* **BISMO** (Umuroglu, Rasnayake, Själander, FPL 2018; ``EECS-NTNU/bismo``, BSD-3). Default: the largest Ultra96
  instance, **10 x 256 x 10 at 300 MHz, 64-bit AXI HP0 port** (``doc/platforms.md``: "10x256x10@300 MHz: 15 binary
  TOPS"; PYNQ-Z1: 8x256x8@200 MHz, 6.5 TOPS) [V]. Buffers: ``Dm`` weight (LHS) and ``Dn`` activation (RHS) memories
  of ``LMEM = RMEM = 1024`` words of ``Dk`` bits each (``Makefile``; ``StageModels.hpp``: ``lmem[M][lmem_size]``)
  [V], i.e. 10 * 1024 * 256 bit = 320 KiB each. Convolutions are lowered on the CPU (im2row) and run as a matrix
  product ``M = ofm, K = ifm*k*k, N = out_dim^2`` (``src/main/resources/cpp/lib/bismo_inference_conv.cpp``) [V],
  so the activation stream is the lowered matrix.
* **Stripes** (Judd et al., MICRO 2016): activations bit-serial, weights 16 b parallel, on a 16-tile DaDianNao
  layout: per tile 16 filters x 16-activation bricks x 16 windows -> ``dm = 256, dk = 16, dn = 16`` [R]; ideal
  speed-up 16/P_a over DaDianNao [V abstract]; fully-connected layers have one window per sample and run bit-parallel
  at DaDianNao's rate [R]. Memory: 16-b containers, 4,096 bit/cycle [R]; weight memory 16 x 2 MB eDRAM, activation
  memory 4 MB (DaDianNao, MICRO 2014) [R]. 980 MHz [R].
* **Loom** (Sharify et al., DAC 2018, arXiv:1706.07853): weights and activations serial; "128 16b x 16b MACs/cycle
  equivalent" [V abstract] = 32,768 one-bit products per cycle: ``dm = 128, dk = 16, dn = 16`` [R]; FC layers serial in
  the weights only [V abstract]. Memory packed at precision, 256 bit/cycle [R]; 2 MiB weight and activation
  buffers [A]. 1 GHz [R].
* **Bit Fusion** (Sharma et al., ISCA 2018; ``hsharma35/bitfusion``, no licence: re-derived, not vendored). Edge
  configuration ``bf_e_conf.ini``: ``a = 16`` (input-channel lanes), ``c = 32`` (output-channel lanes), 500 MHz,
  ``if_width = 192`` bits, ``Wgt_SRAM = 64 KiB``, ``Act_SRAM = 32 KiB``, precision 2..8 b [V]; one output position per
  cycle (``beta = 1``, ``simulator.py``) -> ``dn = 1`` [V].

All buffers are **double-buffered**: half of each holds the tile in use while the other half loads (Bit Fusion's
simulator, ``optimizer.py``: tiles must fit ``sram * 8 / 2``) [V for Bit Fusion, A for the others].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .base import CostError

__all__ = ["Accelerator", "ACCELERATORS", "accelerator", "with_options", "OPTION_FIELDS", "INTEGER_OPTIONS",
           "GRID_MAX_BITS", "accelerator_spec"]  # fmt: skip

GRID_MAX_BITS = 32  # generated tables cover w, a in 0..32 (LayerBits.weight and LayerBits.act)
KIB = 8 * 1024  # bits per KiB

#: spec option -> Accelerator field (``latency:bismo,dm16,bw256``); ``b`` (batch) and ``ns`` are the cost's own
OPTION_FIELDS = {"dm": "dm", "dk": "dk", "dn": "dn", "bw": "bw", "wbuf": "wbuf_kib", "abuf": "abuf_kib",
                 "lmem": "lmem", "rmem": "rmem", "mhz": "clock_mhz", "ob": "out_bits"}  # fmt: skip
INTEGER_OPTIONS = ("dm", "dk", "dn", "lmem", "rmem")


@dataclass(frozen=True)
class Accelerator:
    """One accelerator: array lanes, clock, memory interface and buffers (see the module docstring for sources).

    Attributes:
        name: registry name (``latency:NAME``).
        mapping: which compute mapping of :mod:`cost_models.bitserial` applies (``bismo``, ``stripes``, ``loom``,
            ``bitfusion``).
        clock_mhz: clock [MHz]; converts cycles to ns with the ``ns`` option.
        dm: output-channel lanes (rows; filters in parallel).
        dk: reduction lanes (BISMO: entries of the lowered ``K = C_in/groups * k^2``; others: input channels of one
            kernel tap).
        dn: output columns in parallel (output positions x samples; windows).
        bw: interface width [bit/cycle], shared by weights, input activations and outputs.
        wbuf_kib, abuf_kib: weight / activation buffer [KiB]; ``None``: ``dm * lmem * dk`` / ``dn * rmem * dk`` bits.
        lmem, rmem: buffer depth in ``dk``-bit words per array row / column (BISMO's ``LMEM``/``RMEM``).
        out_bits: bits per output value written back; 0 = requantised on chip to the layer's input width.
        description: one line for reports.
        sources: parameter -> citation, for docs and reports.
    """

    name: str
    mapping: str
    clock_mhz: float
    dm: int
    dk: int
    dn: int
    bw: float
    wbuf_kib: float | None
    abuf_kib: float | None
    lmem: int = 0
    rmem: int = 0
    out_bits: float = 0.0
    description: str = ""
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def weight_buffer_bits(self) -> float:
        """Weight buffer [bit] (all of it; :mod:`cost_models.bitserial` uses half, double buffering)."""
        return self.wbuf_kib * KIB if self.wbuf_kib is not None else float(self.dm * self.lmem * self.dk)

    @property
    def act_buffer_bits(self) -> float:
        """Activation buffer [bit] (all of it)."""
        return self.abuf_kib * KIB if self.abuf_kib is not None else float(self.dn * self.rmem * self.dk)

    def summary(self) -> str:
        """``bismo 10x256x10, 300 MHz, 64 bit/cycle, buffers 320/320 KiB`` (one line)."""
        return (f"{self.name} {self.dm}x{self.dk}x{self.dn}, {self.clock_mhz:g} MHz, {self.bw:g} bit/cycle, "
                f"buffers {self.weight_buffer_bits / KIB:g}/{self.act_buffer_bits / KIB:g} KiB")  # fmt: skip


_BISMO_SRC = "EECS-NTNU/bismo doc/platforms.md (Ultra96 10x256x10@300 MHz, 64-bit AXI HP0) [V]"
ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in [
        Accelerator(
            "stripes", "stripes", 980.0, 256, 16, 16, 4096.0, 32 * 1024.0, 4 * 1024.0,
            description="Stripes: activation-serial, weights 16 b parallel, 16-tile DaDianNao layout",
            sources={"array": "Judd et al. MICRO'16: 16 tiles x 16 filters x 16 bricks x 16 windows [R]",
                     "bw": "4,096 bit/cycle eDRAM, 16-b containers [R]",
                     "buffers": "DaDianNao (MICRO'14): 32 MB weight eDRAM, 4 MB activation memory [R]",
                     "clock": "980 MHz [R]"},
        ),
        Accelerator(
            "loom", "loom", 1000.0, 128, 16, 16, 256.0, 2 * 1024.0, 2 * 1024.0,
            description="Loom: weight- and activation-serial, 128 16b-MAC/cycle equivalent",
            sources={"array": "Sharify et al. DAC'18 abstract: 128 16bx16b MAC/cycle equivalent [V]; 128x16x16 [R]",
                     "bw": "256 bit/cycle, packed at precision [R]", "buffers": "2 MiB each [A]",
                     "clock": "1 GHz [R]"},
        ),
        Accelerator(
            "bismo", "bismo", 300.0, 10, 256, 10, 64.0, None, None, lmem=1024, rmem=1024,
            description="BISMO 10x256x10 binary array on Ultra96 at 300 MHz, 64-bit AXI port",
            sources={"array": _BISMO_SRC, "bw": _BISMO_SRC, "clock": _BISMO_SRC,
                     "buffers": "EECS-NTNU/bismo Makefile LMEM = RMEM = 1024 words of Dk bits per row [V]",
                     "compute": "doc/instrumentation.md: 2*Dm*Dk*Dn binops/cycle; StageModels.hpp [V]",
                     "lowering": "src/main/resources/cpp/lib/bismo_inference_conv.cpp: CPU im2row [V]"},
        ),
        Accelerator(
            "bitfusion", "bitfusion", 500.0, 32, 16, 1, 192.0, 64.0, 32.0,
            description="Bit Fusion edge: 16x32 Fusion Units, 500 MHz, 192-bit interface",
            sources={"all": "hsharma35/bitfusion bf_e_conf.ini (a=16, c=32, 500 MHz, if_width=192, "
                            "Wgt_SRAM 64 KiB, Act_SRAM 32 KiB) [V]",
                     "compute": "bitfusion/src/simulator/accelerator.py get_compute_cycles [V]",
                     "memory": "bitfusion/src/optimizer/optimizer.py get_stats_fast [V]"},
        ),
    ]
}  # fmt: skip


def accelerator(name: str) -> Accelerator:
    """The accelerator called ``name``; a one-line :class:`CostError` listing the known ones otherwise."""
    try:
        return ACCELERATORS[name]
    except KeyError:
        raise CostError(
            f"unknown accelerator {name!r}; choose one of: {', '.join(ACCELERATORS)} (or latency:table=PATH)"
        ) from None


def with_options(acc: Accelerator, options: Mapping[str, float]) -> Accelerator:
    """``acc`` with spec options applied (keys of :data:`OPTION_FIELDS`, e.g. ``{"dm": 16, "bw": 256}``).

    Integer options (lanes, buffer depths) must be whole numbers; an explicit ``wbuf``/``abuf`` (KiB) wins over the
    depth form. Raises a one-line :class:`CostError` naming the option.
    """
    changes: dict[str, object] = {}
    for key, value in options.items():
        if key not in OPTION_FIELDS:
            raise CostError(f"latency:{acc.name}: unknown accelerator option {key!r}; options: "
                            f"{', '.join(f'{k}N' for k in OPTION_FIELDS)}")  # fmt: skip
        if key in INTEGER_OPTIONS:
            if float(value) != int(value):
                raise CostError(f"latency:{acc.name}: {key} must be an integer, got {key}{value:g}")
            value = int(value)
        changes[OPTION_FIELDS[key]] = value
    return replace(acc, **changes) if changes else acc


def accelerator_spec(table: Mapping[str, object]) -> str:
    """A spec string from a TOML-style table: ``{"accelerator": "bismo", "dm": 16, "b": 16}`` ->
    ``"latency:bismo,dm16,b16"`` (keys: ``accelerator``, the :data:`OPTION_FIELDS` keys, ``b``, ``ns``)."""
    table = dict(table)
    name = table.pop("accelerator", None)
    if not isinstance(name, str):
        raise CostError('an accelerator table needs accelerator = NAME (e.g. accelerator = "bismo")')
    accelerator(name)
    words = [name]
    for key, value in table.items():
        if key == "ns":
            if value:
                words.append("ns")
            continue
        if key not in OPTION_FIELDS and key != "b":
            raise CostError(f"accelerator table for {name!r}: unknown key {key!r}; keys: accelerator, b, ns, "
                            f"{', '.join(OPTION_FIELDS)}")  # fmt: skip
        words.append(f"{key}{value:g}" if isinstance(value, float) else f"{key}{value}")
    return "latency:" + ",".join(words)
