"""Registers the shipped cost models under their public names.

``size``, ``size:span``, ``bops``, ``bops-uniq``, ``ebops``, ``latency:{stripes,loom,bismo,bitfusion}`` (and
``latency:NAME,bN,ns``), ``latency:table=PATH``, ``lut``, ``dsp``, ``ff``, ``bram`` (and ``lut:resource,rf4,...``),
``energy`` (and ``energy:dram``).
"""

from __future__ import annotations

from .accelerators import ACCELERATORS
from .base import CostError
from .bops import BopsCost, UniqBopsCost
from .ebops import EbopsCost
from .energy import E_MEM_PJ_PER_BIT, EnergyCost
from .fpga import RESOURCES, fpga_from_arg
from .latency import latency_from_arg
from .registry import register
from .size import SizeCost


def _energy(arg: str | None) -> EnergyCost:
    if arg is not None and arg not in E_MEM_PJ_PER_BIT:
        raise CostError(f"unknown energy memory {arg!r}; choose energy, energy:dram or energy:none")
    return EnergyCost(arg or "sram")


register("size", lambda _arg: SizeCost("count"))
register("size:span", lambda _arg: SizeCost("span"))
register("bops", lambda _arg: BopsCost())
register("bops-uniq", lambda _arg: UniqBopsCost())
register("ebops", lambda _arg: EbopsCost())
for _acc in ACCELERATORS:
    register(f"latency:{_acc}", lambda _arg, _a=_acc: latency_from_arg(_a))
register("latency:table=", lambda arg: latency_from_arg(f"table={arg}"))
register("latency:", latency_from_arg)
for _res in RESOURCES:
    register(_res, lambda _arg, _r=_res: fpga_from_arg(_r, None))
    register(f"{_res}:", lambda arg, _r=_res: fpga_from_arg(_r, arg))
register("energy", _energy)
register("energy:", _energy)
