"""Bit-plane arithmetic: exhaustive round trips, hard limits of the relaxation, mask span."""

from __future__ import annotations

import pytest
import torch

from csq_hw.quant.bitplane_weight import BitPlaneWeight
from csq_hw.quant.bitplanes import hard_digits, hard_mask, int_to_planes, mask_span, planes_to_int, relaxed_digits


@pytest.mark.parametrize("n", range(1, 9))
def test_exhaustive_round_trip(n):
    # every integer a N-bit sign-magnitude code can hold: -(2^N - 1) .. 2^N - 1
    q = torch.arange(-(2**n - 1), 2**n)
    pos, neg = int_to_planes(q, n)
    assert pos.shape == (n, q.numel())
    assert torch.equal(planes_to_int(pos, neg), q)
    # a plane is never set on both sides
    assert not bool((pos * neg).any())


@pytest.mark.parametrize("n", range(1, 9))
def test_exhaustive_bitplane_weight_hard_forward(n):
    # weights exactly q * 2^e come back exactly in the hard phase: e = ceil(log2(max|w| / (2^N - 1)))
    e = -3
    q = torch.arange(-(2**n - 1), 2**n, dtype=torch.float32)
    w = q * 2.0**e
    bw = BitPlaneWeight(w, n_bits=n)
    assert bw.step_exponent() == e  # max|w| = (2^N - 1) 2^-3 -> log2 ratio = -3 exactly
    bw.phase = "hard"
    assert torch.equal(bw(), w)
    assert torch.equal(bw.integer_weight(), q.to(torch.int64))


def test_out_of_range_integer_rejected():
    with pytest.raises(ValueError):
        int_to_planes(torch.tensor([8]), 3)


def test_relaxed_digits_tend_to_hard_digits():
    p = torch.tensor([1.0, -1.0, 0.5, -0.2])
    n = torch.tensor([-1.0, 1.0, -0.3, 0.1])
    # sigmoid(1000 * 1) - sigmoid(-1000) = 1 - 0 = 1, etc.
    assert torch.allclose(relaxed_digits(p, n, 1000.0), hard_digits(p, n))
    # 1[p > 0] - 1[n > 0]: (1-0, 0-1, 1-0, 0-1)
    assert torch.equal(hard_digits(p, n), torch.tensor([1.0, -1.0, 1.0, -1.0]))
    # at T = 1: sigmoid(1) - sigmoid(-1) = 0.7311 - 0.2689 = 0.4621
    assert relaxed_digits(torch.tensor(1.0), torch.tensor(-1.0), 1.0).item() == pytest.approx(0.4621, abs=1e-4)


def test_hard_mask_keeps_one_position():
    assert torch.equal(hard_mask(torch.tensor([0.0, -1.0, 2.0])), torch.tensor([1.0, 0.0, 1.0]))
    # nothing >= 0: the largest logit (-0.1 at index 1) is kept
    assert torch.equal(hard_mask(torch.tensor([-1.0, -0.1, -2.0])), torch.tensor([0.0, 1.0, 0.0]))


def test_mask_span_exact_on_hard_masks_and_differentiable():
    # positions {1, 3}: span 3 - 1 + 1 = 3; {0}: 1; {}: 0; {0..7}: 8
    assert mask_span(torch.tensor([0.0, 1, 0, 1, 0])).item() == 3
    assert mask_span(torch.tensor([1.0, 0, 0])).item() == 1
    assert mask_span(torch.zeros(4)).item() == 0
    assert mask_span(torch.ones(8)).item() == 8
    m = torch.full((4,), 0.5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mask_span, (m,))
