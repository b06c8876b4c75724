"""Adam for the 2N bit planes per weight with less memory: moments in bfloat16, and the update inside backward.

Adam keeps two float32 moments per trained value: for CSQ's 2N plane logits per weight (N = 8: 16 values) that is
128 bytes per quantized weight, and the gradients another 64. Groups with a ``plane_state`` are updated by this
class's own loop, one tensor at a time:

* ``plane_state="bfloat16"`` stores ``exp_avg`` m and ``exp_avg_sq`` v in bfloat16 (64 bytes per weight at N = 8);
  ``"float32"`` keeps them in float32;
* :meth:`CompactAdam.step_in_backward` applies each tensor's update as soon as autograd has accumulated its
  gradient (``register_post_accumulate_grad_hook``) and drops the gradient, so at most one plane tensor's gradient
  exists at a time instead of all of them (the PyTorch recipe "fuse the optimizer step into backward"). The values
  are those of a step after backward; one process only (DDP averages gradients after the hooks ran).

Every update is computed in float32 with torch's Adam rule (coupled L2 ``weight_decay``, bias corrections, no
amsgrad):

    g  = grad + wd * p
    m' = m + (1 - b1) (g - m)              (``lerp``, as torch's Adam)
    v' = b2 v + (1 - b2) g^2
    p  = p - lr / (1 - b1^t) * m' / (sqrt(v') / sqrt(1 - b2^t) + eps)

with m' and v' in float32; only their stored copies are rounded to bfloat16, **stochastically** (round up with a
probability equal to the dropped fraction, so the stored moment is unbiased). Round-to-nearest would stall v: with
b2 = 0.999 a step changes v by ~0.1 %, below half a bfloat16 step (0.2-0.4 %), so v would never decay. The random
bits of each tensor come from a generator seeded by ``(seed, step, the tensor's index)``, so a resumed run, and
the in-backward update, round as an uninterrupted step after backward does.

Other groups are torch's own Adam (``fused`` or ``foreach``, as constructed). The state dict is Adam's; a loaded
float32 moment (``Optimizer.load_state_dict`` casts states to the parameter's dtype) is stored back in bfloat16 at
the next step, which is exact for values that came from bfloat16.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch

__all__ = ["CompactAdam", "stochastic_round_bf16"]

_LOW16 = 0xFFFF


def stochastic_round_bf16(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` (float32) rounded to bfloat16 stochastically: the 16 dropped mantissa bits, read as a fraction
    q in [0, 1) of one bfloat16 step, round the magnitude up with probability q (uniform 16-bit noise added to the
    bit pattern, then truncated). Values already on the bfloat16 grid are returned unchanged; E[result] = x up to
    2^-16 of a step. Same shape as ``x``."""
    bits = x.contiguous().view(torch.int32)
    noise = torch.randint(0, _LOW16 + 1, bits.shape, dtype=torch.int32, device=x.device, generator=generator)
    truncated = (bits + noise).bitwise_and_(~_LOW16)  # sign-magnitude: the noise rounds the magnitude up
    return truncated.view(torch.float32).to(torch.bfloat16)  # exact: the low 16 bits are zero


class CompactAdam(torch.optim.Adam):
    """:class:`torch.optim.Adam`; groups with a ``plane_state`` (``"float32"`` or ``"bfloat16"``: the moments'
    storage) are updated by this class one tensor at a time (module docstring), the others by torch's Adam.

    Args:
        params: parameter groups as for Adam, each with an optional ``plane_state`` (default None: torch's Adam).
        seed: seed of the stochastic rounding (with the step count and the tensor's index).
        **kwargs: Adam's arguments (``lr``, ``betas``, ``eps``, ``weight_decay``, ``fused`` / ``foreach``);
            ``amsgrad``, ``maximize`` and ``differentiable`` are not supported in ``plane_state`` groups.
    """

    def __init__(self, params, seed: int = 0, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, **kwargs)
        self.seed = int(seed)
        for group in self.param_groups:
            group.setdefault("plane_state", None)
            if group["plane_state"] not in (None, "float32", "bfloat16"):
                raise ValueError(f"plane_state must be None, 'float32' or 'bfloat16', got {group['plane_state']!r}")
            if group["plane_state"] and (group["amsgrad"] or group["maximize"] or group["differentiable"]):
                raise ValueError("plane_state groups support neither amsgrad, maximize nor differentiable")
        self._index_groups()
        self._hooks: list = []

    def _index_groups(self) -> None:
        """Each parameter's group and its index in the optimizer (the rounding stream); rebuilt on loading a state,
        which replaces the group dicts."""
        self._group_of: dict[int, tuple[dict, int]] = {}
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                self._group_of[id(p)] = (group, index)
                index += 1

    def load_state_dict(self, state_dict: dict) -> None:  # type: ignore[override]
        super().load_state_dict(state_dict)
        self._index_groups()

    def step_in_backward(self) -> None:
        """From now on every ``plane_state`` tensor is updated inside ``backward()`` as soon as its gradient is
        accumulated, and its gradient is then dropped (``step()`` updates the other groups). The hooks hold the
        optimizer weakly: one that is replaced (the fine-tune's) is freed with its states and its hooks do nothing."""
        if self._hooks:
            return
        me = weakref.ref(self)

        @torch.no_grad()
        def update(p: torch.Tensor) -> None:
            opt = me()
            if opt is not None:
                opt.step_parameter(p)
                p.grad = None

        for group in self.param_groups:
            if group["plane_state"]:
                for p in group["params"]:
                    self._hooks.append(p.register_post_accumulate_grad_hook(update))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        groups = self.param_groups
        plain = [g for g in groups if not g.get("plane_state")]
        for group in groups:
            if group.get("plane_state"):
                for p in group["params"]:
                    self.step_parameter(p)  # (nothing to do where the update ran in backward: no gradient)
        if plain:  # torch's Adam for the others (its kernels and state layout)
            self.param_groups = plain
            try:
                super().step()
            finally:
                self.param_groups = groups
        return loss

    @torch.no_grad()
    def step_parameter(self, p: torch.Tensor) -> None:
        """One Adam update of ``p`` (a tensor of a ``plane_state`` group) from ``p.grad``; nothing without one."""
        if p.grad is None:
            return
        group, index = self._group_of[id(p)]
        beta1, beta2 = group["betas"]
        lr, eps, wd = float(group["lr"]), group["eps"], group["weight_decay"]
        dtype = torch.bfloat16 if group["plane_state"] == "bfloat16" else torch.float32
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
        state["step"] += 1
        t = int(state["step"])
        g = p.grad.float()
        if wd != 0:
            g = g.add(p.float(), alpha=wd)
        m = state["exp_avg"].float().lerp_(g, 1 - beta1)
        v = state["exp_avg_sq"].float().mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = (v.sqrt() / (1 - beta2**t) ** 0.5).add_(eps)
        step_size = lr / (1 - beta1**t)
        if p.dtype == torch.float32:
            p.addcdiv_(m, denom, value=-step_size)
        else:  # bfloat16 planes: the update in float32, stored in the plane dtype
            p.copy_(p.float().addcdiv_(m, denom, value=-step_size))
        if dtype == torch.bfloat16:
            gen = torch.Generator(device=p.device).manual_seed((self.seed * 1_000_003 + t) * 10_007 + index)
            state["exp_avg"] = stochastic_round_bf16(m, gen)
            state["exp_avg_sq"] = stochastic_round_bf16(v, gen)
        else:
            state["exp_avg"], state["exp_avg_sq"] = m, v
