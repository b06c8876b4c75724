"""The interface a CSQ layer offers its readers (csq_hw.quant.layers.CSQLayer, csq_hw.quant.bit_moves.BitMove), and
that no code outside csq_hw/quant/ reaches into a layer's internals instead."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from csq_hw.quant.bit_moves import BitMove, SoftWeightBits, WeightBits
from csq_hw.quant.convert import QuantConfig, convert
from csq_hw.quant.layers import CSQLayer, csq_layers, set_phase

ROOT = Path(__file__).resolve().parents[1]


def _model() -> tuple[nn.Module, CSQLayer, CSQLayer]:
    """Linear(4, 3) searched (4 weight positions, activations 2..6 bits) -> ReLU -> Linear(3, 2) fixed."""
    torch.manual_seed(0)
    cfg = QuantConfig(max_bits=4, act_bits="search", act_max_bits=6, act_min_bits=2, last_layer="fixed")
    model = convert(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), cfg)
    model.train()(torch.randn(8, 4) - 0.5)  # calibrates the input quantizers: the first sees negatives
    first, last = (la for _, la in csq_layers(model))
    with torch.no_grad():
        first.weight_q.mask_logits.copy_(torch.tensor([2.0, -1.0, -1.0, 1.0]))  # positions {0, 3}
        first.act.gate_logits.copy_(torch.tensor([1.0, -1.0, 1.0, 1.0]))  # kept gates 1, 0, ... -> 2 + 1 = 3 bits
    set_phase(model, "hard")
    return model, first, last


def test_flags_bits_and_positions_match_the_internals() -> None:
    _, first, last = _model()
    assert first.searched and first.act_searched
    assert first.searched == first.weight_q.mask_logits.requires_grad
    assert not last.searched and not last.act_searched
    assert first.selected_positions() == [0, 3] == first.weight_q.positions()
    assert last.selected_positions() == [0, 1, 2, 3]  # fixed: every position, whatever the logits
    # count 2 positions, span 3 - 0 + 1 = 4; fixed layer 4 of 4
    assert first.weight_bits() == WeightBits(count=2, span=4) and last.weight_bits() == (4, 4)
    assert first.weight_bits().count == 2 and first.weight_bits().span == 4
    assert first.act_bits() == 3 and last.act_bits() == 6  # 2 + leading kept gates (1); fixed at act_max_bits
    assert first.weight_bit_range() == (1, 4) and last.weight_bit_range() == (4, 4)
    assert first.act_bit_range() == (2, 6) and last.act_bit_range() == (6, 6)
    assert first.act_signed and not last.act_signed  # input with negatives; after the ReLU unsigned
    assert first.max_weight_bits == 4 and first.bias_width == 16
    assert first.weight_step_mode == "pow2" and first.weight_step_exponent() == first.weight_q.step_exponent()
    assert torch.equal(first.integer_weight(), first.weight_q.integer_weight())
    # selection key: mask decisions [T, F, F, T], then gate decisions [T, F, T, T]
    assert first.selection_key().tolist() == [True, False, False, True, True, False, True, True]


def test_soft_bits_while_searching() -> None:
    model, first, _ = _model()
    set_phase(model, "search")  # temperature 1: sigmoid(2) + sigmoid(-1) + sigmoid(-1) + sigmoid(1)
    soft = first.weight_bits(hard=False)
    assert isinstance(soft, SoftWeightBits) and soft.count.requires_grad
    s = torch.sigmoid
    expected = float(s(torch.tensor(2.0)) + 2 * s(torch.tensor(-1.0)) + s(torch.tensor(1.0)))
    assert float(soft.count.detach()) == pytest.approx(expected, abs=1e-6)
    # gates G_j = cumprod(sigmoid(l)) for l = [1, -1, 1, 1]; width = 2 + sum G_j
    g = s(torch.tensor([1.0, -1.0, 1.0, 1.0])).cumprod(0)
    assert float(first.act_bits(hard=False).detach()) == pytest.approx(2 + float(g.sum()), abs=1e-6)


def test_parameter_groups_cover_the_layer() -> None:
    _, first, last = _model()
    wq = first.weight_q
    ids = lambda ps: [id(p) for p in ps]  # noqa: E731
    assert ids(first.plane_parameters()) == ids([wq.pos, wq.neg])
    assert ids(first.mask_parameters()) == ids([wq.mask_logits, first.act.gate_logits])
    assert ids(first.step_parameters()) == ids([wq.log2_step])
    assert ids(first.finetune_parameters()) == ids([wq.shadow])
    assert ids(first.range_parameters()) == ids([first.act.log2_range])
    assert ids(first.search_parameters()) == ids([wq.pos, wq.neg, wq.mask_logits, first.act.gate_logits, wq.log2_step])
    for layer in (first, last):  # search + fine-tune + ranges + the bias: every parameter of the layer, once
        groups = ids(layer.search_parameters() + layer.finetune_parameters() + layer.range_parameters() + [layer.bias])
        assert sorted(groups) == sorted(ids(layer.parameters()))


def test_bit_moves_of_a_searched_and_a_fixed_layer() -> None:
    _, first, last = _model()
    # drop: the selected position with the smallest logit (3: 1.0 < 2.0) and the last kept gate (index 3 - 2 - 1 = 0)
    assert first.bit_moves("0", add=False) == [
        BitMove("0", "weight", False, 1.0, position=3),
        BitMove("0", "act", False, 1.0, new_bits=2),
    ]
    assert [m.position for m in first.bit_moves("0", add=False, every_position=True)][:2] == [0, 3]
    # add, planes still trained: no weight position revived; the next gate (index 3 - 2 = 1, logit -1) -> 4 bits
    assert first.bit_moves("0", add=True) == [BitMove("0", "act", True, -1.0, new_bits=4)]
    assert last.bit_moves("2", add=False) == [] and last.bit_moves("2", add=True) == []
    first.start_finetune(from_current=False)
    assert first.is_finetuning
    revived = [(m.position, m.logit) for m in first.bit_moves("0", add=True) if m.kind == "weight"]
    assert revived == [(1, -1.0), (2, -1.0)]  # the unselected positions, at their logits


def test_apply_and_try_moves() -> None:
    _, first, _ = _model()
    drop = BitMove("0", "weight", False, 1.0, position=3)
    assert drop.label == "drop weight" and drop.target == 3
    with first.trying(drop):
        assert first.selected_positions() == [0]  # logit 3 -> min(1, 0) - 1 = -1
    assert float(first.weight_q.mask_logits.detach()[3]) == 1.0  # restored exactly
    assert first.selected_positions() == [0, 3]
    add = BitMove("0", "act", True, -1.0, new_bits=4)
    first.apply_move(add)  # gate 1: max(-1, 0) + 1 = 1 -> gates [1, 1, 1, 1] all kept -> 2 + 4 = 6 bits
    assert first.act_bits() == 6 and add.label == "add act" and add.target == 4
    with pytest.raises(ValueError):
        BitMove("0", "weight", True, 0.0)  # a weight move needs its position
    with pytest.raises(ValueError):
        BitMove("0", "act", True, 0.0, position=1)


# ---------------------------------------------------------------- no reaching inside a CSQ layer

_FORBIDDEN = [
    (re.compile(r"\bweight_q\b"), "the layer's BitPlaneWeight (weight_q)"),
    (re.compile(r"\bmask_logits\b"), "mask logits"),
    (re.compile(r"\bgate_logits\b"), "activation gate logits"),
    (re.compile(r"\blog2_step\b"), "the weight step parameter"),
    (re.compile(r"isinstance\([^)]*\bBitPlaneWeight\b"), "BitPlaneWeight modules found by type"),
]


def _suffix_matches(tree: ast.AST) -> list[int]:
    """Lines where a parameter name from ``named_parameters()`` is matched with ``endswith``/``startswith``."""
    lines = []
    loops: list[tuple[ast.AST, list[ast.AST], ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.For):
            loops.append((node.iter, node.body, node.target))
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            loops += [(gen.iter, [node], gen.target) for gen in node.generators]  # element and ifs
    for it, body, target in loops:
        called = it.func.attr if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) else ""
        if called != "named_parameters":
            continue
        first = target.elts[0] if isinstance(target, ast.Tuple) and target.elts else target
        if not isinstance(first, ast.Name):
            continue
        for stmt in body:
            for n in ast.walk(stmt):
                if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                        and n.func.attr in ("endswith", "startswith") and isinstance(n.func.value, ast.Name)
                        and n.func.value.id == first.id):  # fmt: skip
                    lines.append(n.lineno)
    return sorted(set(lines))


def _violations(path: Path, text: str) -> list[str]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for pattern, what in _FORBIDDEN:
            if pattern.search(line):
                out.append(f"{path}:{lineno}: reads {what}: {line.strip()}")
    out += [f"{path}:{n}: matches parameters by name" for n in _suffix_matches(ast.parse(text))]
    return out


def test_the_scanner_catches_the_old_forms() -> None:
    old = (
        "def f(model, layer):\n"
        "    flag = layer.weight_q.mask_logits.requires_grad\n"
        "    for pname, p in model.named_parameters():\n"
        "        if pname.endswith('shadow'):\n"
        "            pass\n"
        "    return [p for n, p in model.named_parameters() if n.endswith('bias')]\n"
    )
    found = _violations(Path("x.py"), old)
    assert any("weight_q" in v for v in found) and any("mask logits" in v for v in found)
    assert sum("by name" in v for v in found) == 2  # the loop and the comprehension
    assert _violations(Path("y.py"), "for name, m in model.named_modules():\n    name.endswith('x')\n") == []


def test_no_reader_outside_quant_reaches_into_a_layer() -> None:
    files = [p for d in ("csq_hw", "hls", "cost_models") for p in sorted((ROOT / d).rglob("*.py"))]
    files = [p for p in files if (ROOT / "csq_hw" / "quant") not in p.parents]
    assert len(files) > 20  # the tree was found
    found = [v for p in files for v in _violations(p.relative_to(ROOT), p.read_text(encoding="utf-8"))]
    assert found == []
