"""The relaxation temperature T of CSQ's sigmoids, held so that a compiled forward pass does not specialise on it."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Tempered", "scheduled_temperature"]


def scheduled_temperature(epoch: int, ticket: int, final: float, initial: float = 1.0) -> float:
    """CSQ's per-epoch schedule ``T(e) = T_0 (T_final / T_0)^(e / E_ticket)``: ``initial`` (T_0, 1 in the paper) at
    epoch 0, ``final`` at the ticket epoch, growing on afterwards; ``final`` throughout when ``ticket <= 0``."""
    if ticket <= 0:
        return float(final)
    return float(initial) * (float(final) / float(initial)) ** (epoch / ticket)


class Tempered(nn.Module):
    """A module with a temperature T (dimensionless, > 0): ``temperature`` is a Python float (what code reads and
    sets, no host synchronisation), mirrored in ``temperature_tensor``, a 0-dim float32 buffer on the module's
    device that the forward pass uses. A graph compiled by ``torch.compile`` then takes T as an input instead of a
    constant, so the per-epoch schedule does not recompile it. The buffer is not in the state dict (the trainer
    sets T every epoch, :func:`csq_hw.quant.layers.set_temperature`)."""

    temperature_tensor: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self._temperature = 1.0
        self.register_buffer("temperature_tensor", torch.tensor(1.0), persistent=False)

    @property
    def temperature(self) -> float:
        """T as a Python float."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = float(value)
        with torch.no_grad():
            self.temperature_tensor.fill_(self._temperature)
