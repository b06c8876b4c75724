"""A per-layer dense grid of latency values at integer (w_bits, a_bits), queried by bilinear interpolation.

The table behind every latency cost model (:mod:`cost_models.latency`), whether generated from an analytic
accelerator model or read from a user file (:mod:`cost_models.table_io`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .base import CostError
from .interp import table_interp2

__all__ = ["LatencyTable"]


@dataclass(frozen=True)
class LatencyTable:
    """Per-layer dense grids of latency values.

    Attributes:
        source: where the table came from (a file path or ``accelerator:NAME``); named in every error.
        unit: ``"cycle"``, ``"ns"``, ... .
        w_min, a_min: bits of the first grid row / column.
        layers: layer name -> float64 array ``[n_w, n_a]``; every layer has the same shape.
    """

    source: str
    unit: str
    w_min: int
    a_min: int
    layers: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        shapes = {v.shape for v in self.layers.values()}
        if len(shapes) > 1:
            raise CostError(f"latency table {self.source}: layers have different grid shapes {sorted(shapes)}")
        for name, v in self.layers.items():
            if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] < 1:
                raise CostError(f"latency table {self.source}: layer {name!r} has shape {v.shape}, expected [Bw, Ba]")
            if not np.isfinite(v).all():
                i, j = np.argwhere(~np.isfinite(v))[0]
                raise CostError(
                    f"latency table {self.source}: layer {name!r} at w_bits={self.w_min + i}, a_bits={self.a_min + j} "
                    "is NaN or infinite; fill in a finite value"
                )
            if (v < 0).any():
                i, j = np.argwhere(v < 0)[0]
                raise CostError(
                    f"latency table {self.source}: layer {name!r} at w_bits={self.w_min + i}, a_bits={self.a_min + j} "
                    f"is negative ({v[i, j]}); latencies must be >= 0"
                )

    @property
    def w_max(self) -> int:
        return self.w_min + next(iter(self.layers.values())).shape[0] - 1

    @property
    def a_max(self) -> int:
        return self.a_min + next(iter(self.layers.values())).shape[1] - 1

    def check_layers(self, names: Sequence[str]) -> None:
        """Raise a :class:`CostError` naming the first layer of ``names`` missing from the table."""
        for n in names:
            if n not in self.layers:
                raise CostError(
                    f"latency table {self.source}: no rows for layer {n!r}; add rows layer={n} for w_bits "
                    f"{self.w_min}..{self.w_max} x a_bits {self.a_min}..{self.a_max} (table has: "
                    f"{', '.join(self.layers)})"
                )

    def lookup(self, name: str, w_bits: torch.Tensor, a_bits: torch.Tensor) -> torch.Tensor:
        """Bilinear value at (w_bits, a_bits); exact at integers; :class:`CostError` outside the grid."""
        self.check_layers([name])
        w, a = float(w_bits.detach()), float(a_bits.detach())
        if not (self.w_min <= w <= self.w_max and self.a_min <= a <= self.a_max):
            raise CostError(
                f"latency table {self.source}: layer {name!r} queried at w_bits={w:g}, a_bits={a:g}, outside its "
                f"range w_bits {self.w_min}..{self.w_max}, a_bits {self.a_min}..{self.a_max}; extend the table or "
                "keep the bits inside it"
            )
        grid = torch.as_tensor(self.layers[name], dtype=torch.float64)
        dtype = torch.promote_types(w_bits.dtype, a_bits.dtype)
        return table_interp2(grid, w_bits.to(dtype), a_bits.to(dtype), self.w_min, self.a_min)
