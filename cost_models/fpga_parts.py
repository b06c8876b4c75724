"""Capacities of common FPGA parts (LUT, FF, DSP, BRAM36), to express estimated resources as a share of a device.

The table is ``data/fpga_parts.csv``: one row per device with its family, counts, the DSP slice type (the ``dsp``
cost model counts DSP48E2 slices; 7-series parts have DSP48E1), aliases (short names, boards) and the vendor data
sheet each figure comes from. Counts are whole-device totals (an Alveo card's platform shell occupies part of them).
Intel/Altera parts are not listed: they count ALMs and M20K blocks, which the hls4ml LUT/BRAM36 estimates here do
not predict.

Example::

    part = fpga_part("xcvu9p-flga2104-2L-e")     # package and speed grade are ignored; also "vu9p", "vcu118"
    part.lut                                     # 1182240
    part.share({"lut": 11822.4, "dsp": 0})       # {"lut": 0.01, "dsp": 0.0}: fractions of the device
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .base import CostError

__all__ = ["FpgaPart", "fpga_part", "fpga_parts", "PARTS_FILE", "PART_RESOURCES"]

PARTS_FILE = Path(__file__).parent / "data" / "fpga_parts.csv"
#: resource name (as the cost models name them) -> FpgaPart attribute
PART_RESOURCES = {"lut": "lut", "ff": "ff", "dsp": "dsp", "bram": "bram36"}


@dataclass(frozen=True)
class FpgaPart:
    """One device: counts of 6-input LUTs, flip-flops, DSP slices and 36 Kb block RAMs, and where they come from."""

    name: str
    family: str
    lut: int
    ff: int
    dsp: int
    bram36: int
    dsp_kind: str
    aliases: tuple[str, ...]
    source: str

    def capacity(self, resource: str) -> int:
        """The device's count of ``resource`` (``lut``, ``ff``, ``dsp`` or ``bram``; options such as ``lut:da``
        are ignored)."""
        key = resource.split(":", 1)[0].strip().lower()
        if key not in PART_RESOURCES:
            raise CostError(f"resource {resource!r} has no device capacity; use one of {', '.join(PART_RESOURCES)}")
        return int(getattr(self, PART_RESOURCES[key]))

    def share(self, costs: Mapping[str, float]) -> dict[str, float]:
        """``{resource: cost / capacity}`` (fractions of the device; 1.0 = full) for ``{resource: count}``."""
        return {name: float(value) / self.capacity(name) for name, value in costs.items()}


def _key(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", " ").split())


@lru_cache(maxsize=2)
def _load(path: str) -> tuple[FpgaPart, ...]:
    parts = []
    try:
        with open(path, newline="") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    counts = [int(row[k]) for k in ("lut", "ff", "dsp", "bram36")]
                except (KeyError, TypeError, ValueError):
                    raise CostError(f"{path} line {line}: lut, ff, dsp and bram36 must be integers") from None
                aliases = tuple(_key(a) for a in (row.get("aliases") or "").split(";") if a.strip())
                parts.append(FpgaPart(_key(row["name"]), row["family"], *counts, row["dsp_kind"], aliases,
                                      row["source"]))  # fmt: skip
    except OSError as exc:
        raise CostError(f"FPGA part table {path}: {exc.strerror}; reinstall csq-hw") from None
    return tuple(parts)


def fpga_parts(path: str | Path = PARTS_FILE) -> tuple[FpgaPart, ...]:
    """Every part in the table, in file order."""
    return _load(str(path))


def fpga_part(name: str, path: str | Path = PARTS_FILE) -> FpgaPart:
    """The part called ``name``: a device (``xcvu9p``), with package/speed grade (``xcvu9p-flga2104-2L-e``), short
    (``vu9p``) or a board/card alias (``vcu118``, ``u250``); case-insensitive. Unknown names raise
    :class:`CostError` with the closest known name."""
    parts = fpga_parts(path)
    by_name: dict[str, FpgaPart] = {}
    for p in parts:
        for n in (p.name, *p.aliases):
            by_name.setdefault(n, p)
    key = _key(name)
    candidates = [key, key.split("-", 1)[0]] if key.startswith("xc") else [key]
    for k in candidates:
        if k in by_name:
            return by_name[k]
    close = difflib.get_close_matches(key, list(by_name), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise CostError(f"unknown FPGA part {name!r}; {hint}known parts: {', '.join(p.name for p in parts)}")
