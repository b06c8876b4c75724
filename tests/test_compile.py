"""torch.compile support (issue #17): a CSQ layer's forward (activation quantizer with its calibration, fused
bit-plane weight, bias grid) traces as one graph without graph breaks in every plane phase; the compiled layer
computes what the eager one does; ``train_epoch(compile=True)`` trains like the eager loop, the budget's cost models
in the graph; ``--compile`` is a setting a resume may change."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

import csq_hw.train.trainer as trainer_mod
from cost_models import trace_geometry
from csq_hw import QuantConfig, TrainConfig, convert, csq_layers, set_phase, set_temperature
from csq_hw.quant.act_quant import ActQuant
from csq_hw.quant.fixed_point import inside_as_float
from csq_hw.train.budget import BudgetRegularizer, resolve_budget
from csq_hw.train.budget_set import as_budget_set
from csq_hw.train.trainer import make_optimizer, train_epoch

LAYERS = [
    (nn.Linear(12, 5), (7, 12)),
    (nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 11)),
    (nn.Conv2d(2, 3, 3, padding=1), (2, 2, 6, 6)),
]


def _layer(float_layer: nn.Module, shape: tuple[int, ...], act_bits, dtype: torch.dtype):
    torch.manual_seed(0)
    model = convert(nn.Sequential(float_layer), QuantConfig(max_bits=6, act_bits=act_bits))
    ((_, layer),) = csq_layers(model)
    layer.set_plane_dtype(dtype)
    x = torch.randn(shape, requires_grad=True)  # signed inputs with a gradient: the straight-through paths
    layer.train()
    layer(x)  # the first calibration batch fixes the signedness
    return layer, x


@pytest.mark.parametrize("float_layer, shape", LAYERS)
@pytest.mark.parametrize("phase", ["search", "relaxed", "hard"])
@pytest.mark.parametrize("act_bits, dtype", [(8, torch.float32), ("search", torch.float32), ("search", torch.bfloat16)])
def test_csq_layer_forward_has_no_graph_break(float_layer, shape, phase, act_bits, dtype):
    layer, x = _layer(float_layer, shape, act_bits, dtype)
    set_temperature(layer, 3.0)
    set_phase(layer, phase)
    explained = torch._dynamo.explain(layer)(x)
    assert explained.graph_break_count == 0, [str(r.reason)[:300] for r in explained.break_reasons]
    assert explained.graph_count == 1


@pytest.mark.parametrize("phase", ["search", "hard"])
def test_compiled_layer_computes_what_the_eager_layer_computes(phase):
    float_layer, shape = LAYERS[2]
    eager, x = _layer(float_layer, shape, "search", torch.float32)
    set_temperature(eager, 3.0)
    set_phase(eager, phase)
    compiled_layer, _ = _layer(LAYERS[2][0], shape, "search", torch.float32)
    compiled_layer.load_state_dict(eager.state_dict())
    set_temperature(compiled_layer, 3.0)
    set_phase(compiled_layer, phase)
    compiled = torch.compile(compiled_layer, fullgraph=True, backend="aot_eager")
    outs = []
    for module, forward in ((eager, eager), (compiled_layer, compiled)):
        for temperature in (3.0, 7.0):  # the temperature is a tensor input: no recompile, the new value is used
            set_temperature(module, temperature)
            out = forward(x)
            grads = torch.autograd.grad(out.square().sum(), [x, *module.plane_parameters(), *module.step_parameters()])
            outs.append([out, *grads, module.act.running_max.clone()])
    half = len(outs) // 2
    for eager_out, compiled_out in zip(outs[:half], outs[half:], strict=True):
        for a, b in zip(eager_out, compiled_out, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_inside_as_float_is_the_inside_mask_as_numbers():
    # codes y = floor(x * scale + 0.5) and clamp(y, 0, 255): inside where equal (3 == 3, 0 == 0, 255 == 255);
    # outside where saturated (300 -> 255, -2 -> 0, +-inf) and for NaN, where == is False: 1 - |c - y| <= 0 there
    y = torch.tensor([3.0, 0.0, 255.0, 300.0, -2.0, float("inf"), float("-inf"), float("nan")])
    clamped = torch.clamp(y, 0, 255)
    expected = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert torch.equal(inside_as_float(y, clamped), expected)
    assert torch.equal((clamped == y).float(), expected)


def test_compiled_quantizer_saves_no_bool_tensor():
    """Under torch.compile the straight-through node keeps its input, not a bool mask (inductor's CPU code stores
    bool tensors ~10x slower than ATen), and gives the eager gradient."""
    quantizer = ActQuant(bits=4)
    quantizer.train()
    x = (torch.randn(50, 7) * 3).requires_grad_()  # signed, partly saturated at 4 bits
    quantizer(x)
    quantizer.eval()  # calibration done: the compiled and eager calls quantize on one grid
    grads, saved = [], []
    for forward in (quantizer, torch.compile(quantizer, backend="aot_eager")):
        dtypes: list[torch.dtype] = []

        def pack(t: torch.Tensor, dtypes: list[torch.dtype] = dtypes) -> torch.Tensor:
            dtypes.append(t.dtype)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            (g,) = torch.autograd.grad(forward(x).square().sum(), [x])
        grads.append(g)
        saved.append(dtypes)
    assert torch.bool in saved[0] and torch.bool not in saved[1]
    assert (grads[0] == 0).any() and (grads[0] != 0).any()  # both cases are exercised
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=0)


def _run(compile: bool, monkeypatch) -> tuple[list[float], nn.Module]:
    # aot_eager: dynamo and AOTAutograd as with the default inductor backend, without its C++ build (seconds)
    monkeypatch.setattr(trainer_mod.torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    torch.manual_seed(0)
    x, y = torch.randn(200, 12), torch.randint(0, 3, (200,))
    model = convert(nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3)), QuantConfig(act_bits="search"))
    geometry = trace_geometry(model, (12,), include=lambda name, _m: name in {"0", "2"})
    # two constraints, so that the compiled graph hands out a soft cost for each (budget.soft_costs)
    budgets = as_budget_set([resolve_budget(s, model, geometry) for s in ("size=u3", "bops=u4")])
    regularizer = BudgetRegularizer(budgets, 2.0)
    opt = make_optimizer(model, "adam", 1e-2, 0.0)
    losses = []
    for epoch in range(3):
        set_temperature(model, 1.0 + 2 * epoch)
        set_phase(model, "search" if epoch < 2 else "hard")
        stats = train_epoch(model, x, y, optimizer=opt, regularizer=regularizer, geometry=geometry, batch_size=64,
                            seed=0, epoch=epoch, steps_done=4 * epoch, total_steps=12, base_lr=1e-2,
                            searching=epoch < 2, compile=compile)  # fmt: skip
        losses.append(stats.loss)
    return losses, model


def test_compiled_training_step_matches_the_eager_one(monkeypatch):
    eager_losses, eager = _run(False, monkeypatch)
    counters = torch._dynamo.utils.counters
    counters.clear()
    compiled_losses, compiled = _run(True, monkeypatch)
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-5)
    for a, b in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # one graph per phase and batch size (the last batch of 8 samples), none broken
    assert counters["stats"]["unique_graphs"] <= 4
    assert not counters["graph_break"]


def test_compile_is_a_setting_and_a_resume_may_change_it():
    from csq_hw.runtime.checkpoint import RESUME_FREE

    assert TrainConfig.from_flat(model="digits-mlp", compile=True).train.compile
    assert not TrainConfig.from_flat(model="digits-mlp").train.compile
    assert "compile" in RESUME_FREE


@pytest.mark.slow
def test_inductor_training_step_matches_the_eager_one():
    """The default backend (inductor: C++ kernels built on this machine, ~20-60 s) on a few search steps."""
    torch.manual_seed(0)
    x, y = torch.randn(128, 12), torch.randint(0, 3, (128,))
    results = []
    for compile in (False, True):
        torch.manual_seed(0)
        model = convert(nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3)), QuantConfig(act_bits=6))
        set_temperature(model, 2.0)
        opt = make_optimizer(model, "adam", 1e-2, 0.0)
        stats = train_epoch(model, x, y, optimizer=opt, regularizer=None, geometry=[], batch_size=32, seed=0, epoch=0,
                            steps_done=0, total_steps=4, base_lr=1e-2, searching=True, compile=compile)  # fmt: skip
        results.append((stats.loss, [p.detach().clone() for p in model.parameters()]))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
