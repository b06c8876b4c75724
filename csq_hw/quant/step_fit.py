"""The straight-through fine-tune's weight step, refitted to the shadow weights on the device (no host read-back).

With shadow weights s (float32, any shape), the ascending value set V (float32, :mod:`csq_hw.quant.signed_digits`)
and ``top = max(max V, 1)``:

* ``maxabs``: ``e0 = ceil(log2(max|s| / top))``, the smallest power of two whose grid holds the largest weight;
* ``mse``: of e0, e0 - 1, e0 - 2, e0 - 3 the exponent of least ``sum (s - 2^e proj_V(s / 2^e))^2`` (ties: the
  larger step);
* float steps (``pow2=False``): ``log2(max|s| / top)``, max-abs only.

The quotient ``max|s| / top`` is taken in float64 (as Python did before) and its ``ceil(log2)`` exactly, from
``frexp``; each candidate's error is the same float32 sum as before, so the choice is unchanged.
"""

from __future__ import annotations

import torch

from csq_hw.quant.signed_digits import nearest_value

__all__ = ["fitted_exponent"]


def _ceil_log2(q: torch.Tensor) -> torch.Tensor:
    """``ceil(log2 q)`` for q > 0 (float64, 0-dim), exactly: ``q = m 2^e``, m in [0.5, 1) -> ``e - [m == 0.5]``."""
    mantissa, exponent = torch.frexp(q)
    return (exponent - (mantissa == 0.5).to(exponent.dtype)).to(torch.float64)


@torch.no_grad()
def fitted_exponent(shadow: torch.Tensor, values: torch.Tensor, rule: str, pow2: bool = True) -> torch.Tensor:
    """The refitted ``log2`` of the step (0-dim float64 tensor on ``shadow``'s device) by ``rule`` (``"maxabs"`` or
    ``"mse"``); see the module docstring."""
    s = shadow.detach().float()
    top = values[-1].to(torch.float64).clamp_min(1.0)
    if s.numel():
        max_abs = s.abs().max().to(torch.float64).clamp_min(2.0**-30)
    else:
        max_abs = torch.tensor(2.0**-30, dtype=torch.float64, device=s.device)
    q = max_abs / top
    if not pow2:
        return torch.log2(q)
    e0 = _ceil_log2(q)
    if rule == "maxabs":
        return e0
    candidates = e0 - torch.arange(4, dtype=torch.float64, device=s.device)  # e0, e0 - 1, e0 - 2, e0 - 3
    errors = []
    for j in range(4):  # one float32 sum per candidate, as the one-by-one loop took them
        scale = torch.exp2(candidates[j]).to(torch.float32)
        errors.append(((s - scale * nearest_value(s / scale, values)) ** 2).sum())
    return candidates[torch.argmin(torch.stack(errors))]  # the first minimum: ties go to the larger step
