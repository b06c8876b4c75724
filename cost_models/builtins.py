"""Registers the shipped cost models under their public names."""

from __future__ import annotations

from .registry import register
from .size import SizeCost

register("size", lambda _arg: SizeCost("count"))
register("size:span", lambda _arg: SizeCost("span"))
