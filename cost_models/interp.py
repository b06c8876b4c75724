"""Differentiable relaxations that are exact at integer bits.

Hardware costs are functions of integer bit-widths and are often step functions of them (``ceil``, ``floor``,
a DSP threshold, a lookup table). During training the bits are relaxed floats, so every such function ``f`` is
replaced by its **piecewise-linear interpolant on the integer grid**:

    f~(x) = (1 - t) * f(floor(x)) + t * f(floor(x) + 1),   t = x - floor(x)          (1-D)
    f~(x, y) = bilinear blend of f at the four surrounding integer points                (2-D)

``f~`` equals ``f`` at every integer, is continuous, is monotone wherever ``f`` is monotone on the grid, and has
the finite-difference gradient ``f(n + 1) - f(n)`` between grid points (the right difference at a grid point).
``f`` is only ever called on detached integer-valued tensors, so it may use ``ceil``/``floor``/comparisons freely.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["grid_interp1", "grid_interp2", "table_interp2"]

Fn1 = Callable[[torch.Tensor], torch.Tensor]
Fn2 = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def grid_interp1(f: Fn1, x: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolant of ``f`` on the integers, evaluated at ``x`` (any shape, differentiable)."""
    x0 = torch.floor(x.detach())
    t = x - x0
    f0 = f(x0).to(x.dtype)
    f1 = f(x0 + 1).to(x.dtype)
    return f0 + t * (f1 - f0)


def grid_interp2(f: Fn2, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear interpolant of ``f`` on the integer grid, evaluated at ``(x, y)`` (broadcast, differentiable)."""
    x, y = torch.broadcast_tensors(x, y)
    x0 = torch.floor(x.detach())
    y0 = torch.floor(y.detach())
    tx = x - x0
    ty = y - y0
    f00 = f(x0, y0).to(x.dtype)
    f10 = f(x0 + 1, y0).to(x.dtype)
    f01 = f(x0, y0 + 1).to(x.dtype)
    f11 = f(x0 + 1, y0 + 1).to(x.dtype)
    return (1 - tx) * (1 - ty) * f00 + tx * (1 - ty) * f10 + (1 - tx) * ty * f01 + tx * ty * f11


def table_interp2(table: torch.Tensor, x: torch.Tensor, y: torch.Tensor, x_min: int, y_min: int) -> torch.Tensor:
    """Bilinear lookup in a dense 2-D ``table`` whose entry ``[i, j]`` holds the value at ``(x_min + i, y_min + j)``.

    ``x``/``y`` must lie inside the table's range (the caller checks and raises a readable error); at the upper
    edge the last cell is reused so that ``x == x_max`` is still exact.
    """
    nx, ny = table.shape

    def at(xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        i = (xi - x_min).long().clamp(0, nx - 1)
        j = (yi - y_min).long().clamp(0, ny - 1)
        return table[i, j]

    # clamp the cell's lower corner so that x == x_max interpolates inside the last cell (t = 1)
    x, y = torch.broadcast_tensors(x, y)
    x0 = torch.floor(x.detach()).clamp(max=x_min + nx - 2) if nx > 1 else torch.floor(x.detach())
    y0 = torch.floor(y.detach()).clamp(max=y_min + ny - 2) if ny > 1 else torch.floor(y.detach())
    tx = x - x0
    ty = y - y0
    f00, f10, f01, f11 = (v.to(x.dtype) for v in (at(x0, y0), at(x0 + 1, y0), at(x0, y0 + 1), at(x0 + 1, y0 + 1)))
    return (1 - tx) * (1 - ty) * f00 + tx * (1 - ty) * f10 + (1 - tx) * ty * f01 + tx * ty * f11
