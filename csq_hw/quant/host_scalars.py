"""Where the quantizers compute their scalar exponents: on the host (Python numbers) or on the device (0-dim tensors).

A quantizer's grid exponent (the activation range ``ceil(log2 running_max)``, the bias step) is a scalar. On a CUDA
device, or inside a graph ``torch.compile`` traces, it is computed as 0-dim tensors (``frexp``, ``torch.where``): no
host synchronisation and no graph break. In eager mode on the CPU a host read costs nothing, while each 0-dim
tensor operation costs a dispatcher call (3-10 us on a 2-core machine, ~15 per quantizer and step: a large part of
a small model's step). There the exponents are computed from Python numbers, with the same float32 arithmetic, so
both paths give bit-identical values (tests/test_host_scalars.py).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["on_host", "device_scalars", "ceil_log2", "ema_float32"]

_FORCED_DEVICE = False


def on_host(t: torch.Tensor) -> bool:
    """True when the scalars of an operation on ``t`` are best computed on the host: ``t`` is on the CPU, nothing is
    being traced by ``torch.compile`` and :func:`device_scalars` is not active."""
    return t.device.type == "cpu" and not _FORCED_DEVICE and not torch.compiler.is_compiling()


@contextlib.contextmanager
def device_scalars() -> Iterator[None]:
    """Within the block, compute the scalars as 0-dim tensors everywhere (the CUDA and compiled path; for tests)."""
    global _FORCED_DEVICE
    before, _FORCED_DEVICE = _FORCED_DEVICE, True
    try:
        yield
    finally:
        _FORCED_DEVICE = before


def ceil_log2(value: float) -> int:
    """``ceil(log2(value))`` exactly, 0 for ``value == 0``: with ``value = m 2^e``, m in [0.5, 1) (``frexp``), it is
    ``e - [m == 0.5]`` (the tensor version: ``ActQuant.range_exponent_tensor``)."""
    mantissa, exponent = math.frexp(value)
    return exponent - (mantissa == 0.5)


def ema_float32(running: float, batch: float, momentum: float) -> float:
    """``running * (1 - momentum) + momentum * batch`` rounded as float32 tensor arithmetic rounds it (each product
    and the sum to float32; the Python scalars cast to float32 first), e.g. for a float32 ``running_max`` buffer."""
    f = np.float32
    return float(f(f(running) * f(1 - momentum)) + f(f(momentum) * f(batch)))
