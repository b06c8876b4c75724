"""Memory of CSQ's 2N bit planes per weight: counted tensor bytes (any device) and, on CUDA, peak allocation.

    python benchmarks/plane_memory.py [--model resnet20] [--max-bits 8] [--device cpu|cuda] [--batch-size 128]

For ``plane_dtype`` float32 and bfloat16, Adam's plane moments (``plane_adam_state``) in float32 and bfloat16
(``csq_hw.train.compact_adam``), and ``amp`` off/bf16 on CUDA, one Adam training step is run and the script
reports, per quantized weight (bytes):

* ``planes``: the plane parameters p, n (2N values per weight); ``grads``: their gradients (with
  ``plane_step_in_backward``, ``in bwd``: none are kept; counted is the most that exist at once, one layer's p and n
  gradients between its backward and the update hooks); ``adam``: Adam's exp_avg and exp_avg_sq for them;
* ``saved``: what autograd keeps between forward and backward for the weight construction, counted with
  ``torch.autograd.graph.saved_tensors_hooks`` over storages that are not the module's own parameters or buffers
  (a saved parameter costs nothing extra), for the fused operation the layers use now (``fused``) and for the
  unfused composition it replaced (``before``: ``CSQLayer.reference_weight``, the code path before issue #17,
  measured in the same run);
* ``= before`` and ``= now``: planes + grads + adam + saved, with the composed and the fused construction;
* on CUDA ``peak``: ``torch.cuda.max_memory_allocated`` of the training step (forward, backward, Adam step,
  batch ``--batch-size``), and ``float model``: the same for the float model (no bit planes), both per weight.

Layers are read through their public interface (``plane_parameters``, ``set_plane_dtype``, ``weight``,
``reference_weight``, ``weight_shape``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _build(model_name: str, max_bits: int, plane_dtype: str, device: torch.device) -> tuple[nn.Module, list]:
    from csq_hw.quant.layers import csq_layers
    from csq_hw.train.config import TrainConfig
    from csq_hw.train.model_build import build_csq_model

    cfg = TrainConfig.from_flat(model=model_name, max_bits=max_bits, budget="size=u4", plane_dtype=plane_dtype)
    model, _, _ = build_csq_model(cfg)
    layers = [layer for _, layer in csq_layers(model)]
    for layer in layers:
        layer.set_plane_dtype(getattr(torch, plane_dtype))
    return model.to(device), layers


def saved_bytes(model: nn.Module, build: Callable[[], list[torch.Tensor]]) -> int:
    """Bytes of the storages autograd saves while ``build()`` runs, the model's own parameters and buffers (saved
    without a copy) excluded."""
    own = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in own:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        weights = build()
    del weights
    return sum(saved.values())


def measure(
    model_name: str,
    max_bits: int,
    plane_dtype: str,
    device: torch.device,
    batch: int,
    amp: bool,
    state: str,
    in_backward: bool = False,
) -> dict:
    from csq_hw.train.trainer import make_optimizer
    from csq_hw.zoo.models import model_info

    model, layers = _build(model_name, max_bits, plane_dtype, device)
    n_weights = sum(math.prod(layer.weight_shape) for layer in layers)
    opt = make_optimizer(model, "adam", 1e-3, 0.0, plane_adam_state=state, plane_step_in_backward=in_backward)
    info = model_info(model_name)
    x = torch.randn(batch, *info.input_shape, device=device)
    y = torch.randint(0, info.n_classes, (batch,), device=device)
    saved_now = saved_bytes(model, lambda: [layer.weight for layer in layers])
    saved_before = saved_bytes(model, lambda: [layer.reference_weight() for layer in layers])
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        loss = F.cross_entropy(model(x).float(), y)
    loss.backward()
    opt.step()
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else None
    plane_params = [p for layer in layers for p in layer.plane_parameters()]
    nbytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)  # noqa: E731
    states = [v for p in plane_params for v in opt.state[p].values() if torch.is_tensor(v) and v.dim() > 0]
    out = {
        "plane_dtype": plane_dtype,
        "amp": amp,
        "state": state,
        "in_backward": in_backward,
        "n_weights": n_weights,
        "planes": nbytes(plane_params) / n_weights,
        "grads": (
            max(nbytes(la.plane_parameters()) for la in layers)
            if in_backward
            else nbytes([p.grad for p in plane_params])
        )
        / n_weights,  # fmt: skip
        "adam": nbytes(states) / n_weights,
        "saved": saved_now / n_weights,
        "saved_before": saved_before / n_weights,
    }
    stored = out["planes"] + out["grads"] + out["adam"]
    out["total"], out["total_before"] = stored + out["saved"], stored + out["saved_before"]
    if peak is not None:
        out["peak"] = peak / n_weights
    return out


def float_peak(model_name: str, device: torch.device, batch: int, n_weights: int, amp: bool) -> float:
    from csq_hw.zoo.models import build_model, model_info

    info = model_info(model_name)
    model = build_model(model_name).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, *info.input_shape, device=device)
    y = torch.randint(0, info.n_classes, (batch,), device=device)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        loss = F.cross_entropy(model(x).float(), y)
    loss.backward()
    opt.step()
    return torch.cuda.max_memory_allocated() / n_weights


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet20")
    p.add_argument("--max-bits", dest="max_bits", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=128)
    args = p.parse_args()
    device = torch.device(args.device)
    base = [("float32", "float32", False), ("float32", "bfloat16", False), ("float32", "float32", True),
            ("float32", "bfloat16", True), ("bfloat16", "float32", False)]  # fmt: skip
    combos = [(d, False, s, b) for d, s, b in base]
    if device.type == "cuda":
        combos += [(d, True, s, b) for d, s, b in base]
    print(f"{args.model}, N = {args.max_bits}, {device}, batch {args.batch_size}: bytes per quantized weight")
    for plane_dtype, amp, state, in_backward in combos:
        r = measure(args.model, args.max_bits, plane_dtype, device, args.batch_size, amp, state, in_backward)
        line = (f"  planes {plane_dtype:<8} adam state {state:<8} {'in bwd' if in_backward else 'after ':<6} "
                f"amp {'bf16' if amp else 'off ':<4}  "
                f"planes {r['planes']:5.1f}  "
                f"grads {r['grads']:5.1f}  adam {r['adam']:5.1f}  saved {r['saved_before']:5.1f} before, "
                f"{r['saved']:5.2f} fused  = {r['total_before']:5.1f} before, {r['total']:5.1f} now")  # fmt: skip
        if "peak" in r:
            fp = float_peak(args.model, device, args.batch_size, r["n_weights"], amp)
            line += f"  | peak {r['peak']:7.1f}  (float model {fp:6.1f})"
        print(line + f"   [{r['n_weights']} weights]")


if __name__ == "__main__":
    main()
