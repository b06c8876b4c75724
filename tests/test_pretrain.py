"""Float warm start: it trains the float model, and the converted CSQ model starts from those weights."""

from __future__ import annotations

import torch

from csq_hw import QuantConfig, convert, csq_layers, set_phase
from csq_hw.data import load_dataset
from csq_hw.train.pretrain import pretrain_float
from csq_hw.train.trainer import evaluate
from csq_hw.zoo.models import build_model


def test_pretrain_improves_float_model_and_seeds_the_bit_planes():
    data = load_dataset("digits").reshaped((64,))
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    xt, yt = torch.as_tensor(data.x_test), torch.as_tensor(data.y_test)
    torch.manual_seed(0)
    model = build_model("digits-mlp")
    before = evaluate(model, xt, yt)
    pretrain_float(model, x, y, epochs=5, lr=1e-2, batch_size=64, seed=0)
    after = evaluate(model, xt, yt)
    assert before < 0.3 < 0.85 < after  # random init ~10 %; 5 float epochs (Adam 1e-2) reach ~93 %
    csq = convert(model, QuantConfig(max_bits=8, act_bits=8))
    set_phase(csq, "hard")
    # with all 8 positions the exact weights are the float weights rounded to the 2^e grid: error <= step / 2
    for name, layer in csq_layers(csq):
        w_float = model.get_submodule(name).weight.detach()
        step = 2.0 ** layer.weight_q.step_exponent()
        assert (layer.weight_q().detach() - w_float).abs().max() <= step / 2 + 1e-12


def test_zero_epochs_is_a_no_op():
    model = build_model("digits-mlp")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    pretrain_float(model, torch.zeros(4, 64), torch.zeros(4, dtype=torch.int64), epochs=0, lr=1e-3, batch_size=2,
                   seed=0)  # fmt: skip
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
