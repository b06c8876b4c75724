"""The shipped cost models by public name: :data:`SHIPPED`, which :mod:`cost_models.registry` registers first.

``size``, ``size:span``, ``bops``, ``bops-uniq``, ``ebops``, ``latency:{stripes,loom,bismo,bitfusion}`` (and
``latency:NAME,bN,ns`` with accelerator parameters such as ``dm16,dk256,dn16,bw256``), ``latency:table=PATH``,
``lut``, ``dsp``, ``ff``, ``bram`` (and ``lut:resource,rf4,...``), ``energy`` (and ``energy:dram``).
"""

from __future__ import annotations

from collections.abc import Callable

from .accelerators import ACCELERATORS
from .base import CostError, CostModel
from .bops import BopsCost, UniqBopsCost
from .ebops import EbopsCost
from .energy import E_MEM_PJ_PER_BIT, EnergyCost
from .fpga import RESOURCES, fpga_from_arg
from .latency import latency_from_arg
from .size import SizeCost

__all__ = ["SHIPPED"]


def _energy(arg: str | None) -> EnergyCost:
    if arg is not None and arg not in E_MEM_PJ_PER_BIT:
        raise CostError(f"unknown energy memory {arg!r}; choose energy, energy:dram or energy:none")
    return EnergyCost(arg or "sram")


SHIPPED: dict[str, Callable[[str | None], CostModel]] = {}
SHIPPED["size"] = lambda _arg: SizeCost("count")
SHIPPED["size:span"] = lambda _arg: SizeCost("span")
SHIPPED["bops"] = lambda _arg: BopsCost()
SHIPPED["bops-uniq"] = lambda _arg: UniqBopsCost()
SHIPPED["ebops"] = lambda _arg: EbopsCost()
for _acc in ACCELERATORS:
    SHIPPED[f"latency:{_acc}"] = lambda _arg, _a=_acc: latency_from_arg(_a)
SHIPPED["latency:table="] = lambda arg: latency_from_arg(f"table={arg}")
SHIPPED["latency:"] = latency_from_arg
for _res in RESOURCES:
    SHIPPED[_res] = lambda _arg, _r=_res: fpga_from_arg(_r, None)
    SHIPPED[f"{_res}:"] = lambda arg, _r=_res: fpga_from_arg(_r, arg)
SHIPPED["energy"] = _energy
SHIPPED["energy:"] = _energy
