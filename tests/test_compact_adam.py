"""Adam with less memory for the bit planes (issue #17's memory goal): bfloat16 moments (stochastic rounding, Adam's
rule, no stalled second moment, exact resume), the update inside backward (the same values, no plane gradients
kept), and the trainer's parameter groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from csq_hw import QuantConfig, TrainConfig, UserError, convert, csq_layers
from csq_hw.train.compact_adam import CompactAdam, stochastic_round_bf16
from csq_hw.train.trainer import make_optimizer


def test_stochastic_rounding_picks_a_neighbour_with_the_dropped_fraction():
    # bfloat16 has 8 significant bits: around 1.0 its step is 2^-7. 1 + 2^-9 lies a quarter step above 1.0, so it
    # rounds up to 1 + 2^-7 = 1.0078125 with probability 1/4 (and -x to -1.0078125 alike)
    gen = torch.Generator().manual_seed(0)
    x = torch.full((200_000,), 1.0 + 2**-9)
    for sign in (1.0, -1.0):
        r = stochastic_round_bf16(sign * x, gen).float()
        assert r.dtype == torch.float32 and set(r.abs().unique().tolist()) == {1.0, 1.0078125}
        assert float((r.abs() > 1).float().mean()) == pytest.approx(0.25, abs=0.005)  # 4.4 sigma at n = 2e5
    on_grid = torch.tensor([0.0, 1.0, -3.5, 2.0**-20, 65280.0])  # representable in bfloat16: unchanged
    assert torch.equal(stochastic_round_bf16(on_grid, gen).float(), on_grid)


def test_first_step_is_adams_sign_step():
    # step 1 from m = v = 0: m' = (1 - b1) g, v' = (1 - b2) g^2, so the update is
    # lr / (1 - b1) * (1 - b1) g / (sqrt((1 - b2) g^2) / sqrt(1 - b2) + eps) = lr * g / (|g| + eps)
    p = nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    opt = CompactAdam([{"params": [p], "plane_state": "bfloat16"}], lr=0.1)
    p.grad = torch.tensor([0.3, -4.0, 1e-3])
    opt.step()
    expected = torch.tensor([1.0, -2.0, 0.5]) - 0.1 * p.grad / (p.grad.abs() + 1e-8)  # [0.9, -1.9, 0.4]
    torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-6)
    assert opt.state[p]["exp_avg"].dtype == torch.bfloat16 and opt.state[p]["exp_avg_sq"].dtype == torch.bfloat16


def test_follows_adam_and_keeps_other_groups_on_torchs_adam():
    torch.manual_seed(0)
    a, b = nn.Parameter(torch.randn(64, 32)), nn.Parameter(torch.randn(16))
    a2, b2 = nn.Parameter(a.detach().clone()), nn.Parameter(b.detach().clone())
    ref = torch.optim.Adam([a, b], lr=1e-2, weight_decay=1e-3, fused=True)
    opt = CompactAdam([{"params": [a2], "plane_state": "bfloat16"}, {"params": [b2]}], lr=1e-2, weight_decay=1e-3,
                      fused=True)  # fmt: skip
    for _ in range(100):
        ga, gb = 0.1 * torch.randn(64, 32) + 0.05, torch.randn(16)
        a.grad, b.grad, a2.grad, b2.grad = ga, gb, ga.clone(), gb.clone()
        ref.step()
        opt.step()
    assert torch.equal(b.detach(), b2.detach())  # the plain group is torch's fused Adam itself
    # 100 steps of at most lr = 0.01 each move a weight by up to 1.0; the rounded moments cost < 1 % of that
    assert float((a - a2).abs().max()) < 0.01
    assert opt.state[b2]["exp_avg"].dtype == torch.float32


def test_second_moment_decays_instead_of_stalling():
    # v = 1 with zero gradients decays as b2^t: 0.999^500 = 0.6064. Round-to-nearest would keep v = 1 (each step
    # changes v by 0.1 %, less than half a bfloat16 step, 0.39 % at 1.0); stochastic rounding follows the decay
    p = nn.Parameter(torch.zeros(20_000))
    opt = CompactAdam([{"params": [p], "plane_state": "bfloat16"}], lr=1e-3)
    p.grad = torch.zeros_like(p)
    opt.step()
    opt.state[p]["exp_avg_sq"] = torch.ones_like(p, dtype=torch.bfloat16)
    for _ in range(500):
        opt.step()
    assert float(opt.state[p]["exp_avg_sq"].float().mean()) == pytest.approx(0.999**500, rel=0.01)


def test_a_resumed_optimizer_rounds_as_an_uninterrupted_one():
    torch.manual_seed(1)
    grads = [torch.randn(8, 8) for _ in range(6)]
    runs = []
    for cut in (None, 3):
        p = nn.Parameter(torch.ones(8, 8))
        opt = CompactAdam([{"params": [p], "plane_state": "bfloat16"}], lr=0.05, seed=7)
        for i, g in enumerate(grads):
            if i == cut:  # a checkpoint: the state dict (moments cast to float32 on loading) into a new optimizer
                saved, p = opt.state_dict(), nn.Parameter(p.detach().clone())
                opt = CompactAdam([{"params": [p], "plane_state": "bfloat16"}], lr=0.05, seed=7)
                opt.load_state_dict(saved)
            p.grad = g.clone()
            opt.step()
        runs.append(p.detach())
    assert torch.equal(runs[0], runs[1])


def _csq_mlp() -> nn.Module:
    torch.manual_seed(0)
    return convert(nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3)), QuantConfig())


def test_trainer_puts_the_planes_in_the_compact_group():
    model = _csq_mlp()
    opt = make_optimizer(model, "adam", 1e-2, 1e-4, plane_adam_state="bfloat16")
    planes = {id(p) for _, la in csq_layers(model) for p in la.plane_parameters()}
    compact = [g for g in opt.param_groups if g["plane_state"]]
    assert isinstance(opt, CompactAdam) and len(compact) == 1
    assert {id(p) for p in compact[0]["params"]} == planes and compact[0]["weight_decay"] == 1e-4
    other = {id(p) for g in opt.param_groups if not g["plane_state"] for p in g["params"]}
    assert not other & planes and other  # masks, steps and biases stay with torch's Adam
    assert type(make_optimizer(model, "adam", 1e-2, 0.0)) is torch.optim.Adam  # the default is unchanged
    assert type(make_optimizer(model, "adam", 1e-2, 0.0, finetune=True, plane_adam_state="bfloat16")) is (
        torch.optim.Adam
    )  # the fine-tune trains no planes


def test_compact_state_needs_adam():
    with pytest.raises(UserError, match="needs optimizer adam"):
        TrainConfig.from_flat(model="digits-mlp", optimizer="sgd", plane_adam_state="bfloat16")
    with pytest.raises(UserError, match="needs optimizer adam"):
        TrainConfig.from_flat(model="digits-mlp", optimizer="sgd", plane_step_in_backward=True)
    assert TrainConfig.from_flat(model="digits-mlp", plane_adam_state="bfloat16").train.plane_adam_state == "bfloat16"


@pytest.mark.parametrize("state", ["float32", "bfloat16"])
def test_update_in_backward_is_the_update_after_backward(state):
    """Five CSQ search steps: planes updated by the hooks inside backward equal planes updated by ``step()`` after
    it (same rule, same rounding streams); no plane gradient is left after backward. Not bit for bit: freeing the
    gradients early moves later buffers, and the CPU kernels' rounding may follow the alignment (1 ulp of a
    gradient seen); a bfloat16 moment may then round the other way, 1 % of an lr = 0.01 step at most."""
    torch.manual_seed(0)
    x, y = torch.randn(32, 12), torch.randint(0, 3, (32,))
    runs = []
    for in_backward in (False, True):
        model = _csq_mlp()
        opt = make_optimizer(model, "adam", 1e-2, 1e-4, plane_adam_state=state, plane_step_in_backward=in_backward)
        planes = [p for _, la in csq_layers(model) for p in la.plane_parameters()]
        for _ in range(5):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            assert all((p.grad is None) == in_backward for p in planes)
            opt.step()
        runs.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*runs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6 if state == "float32" else 1e-4)


def test_a_replaced_optimizer_stops_updating_from_backward():
    model = _csq_mlp()
    opt = make_optimizer(model, "adam", 1e-2, 0.0, plane_step_in_backward=True)
    plane = next(iter(csq_layers(model)))[1].plane_parameters()[0]
    del opt  # e.g. the fine-tune's optimizer replaces it: its hooks hold it weakly and do nothing
    before = plane.detach().clone()
    nn.functional.cross_entropy(model(torch.randn(4, 12)), torch.tensor([0, 1, 2, 0])).backward()
    assert torch.equal(plane.detach(), before) and plane.grad is not None


def test_an_optimizer_state_of_other_groups_is_a_user_error(tmp_path):
    from csq_hw.train.optimizers import load_optimizer_state

    model = _csq_mlp()
    saved = make_optimizer(model, "adam", 1e-2, 0.0).state_dict()  # 2 groups
    compact = make_optimizer(model, "adam", 1e-2, 0.0, plane_adam_state="bfloat16")  # 3 groups
    with pytest.raises(UserError, match="does not fit this run's optimizer settings"):
        load_optimizer_state(compact, saved, tmp_path / "checkpoint.pt")
