"""LARS against a hand computation, its exclusions, and the warm-up + cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hjepa.optim import LARS, excluded_from_adaptation, warmup_cosine


def test_lars_trust_ratio_matches_hand_computation():
    weight = nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ||w|| = 5
    bias = nn.Parameter(torch.tensor([1.0]))
    weight.grad = torch.tensor([[0.6, 0.8]])
    bias.grad = torch.tensor([0.5])
    lr, eta, wd = 0.1, 0.01, 0.1
    opt = LARS([weight, bias], lr=lr, momentum=0.9, weight_decay=wd, eta=eta)
    opt.step()
    update = torch.tensor([[0.6, 0.8]]) + wd * torch.tensor([[3.0, 4.0]])  # [[0.9, 1.2]], norm 1.5
    ratio = eta * 5.0 / 1.5
    assert torch.allclose(weight.detach(), torch.tensor([[3.0, 4.0]]) - lr * ratio * update, atol=1e-7)
    # The bias (1-D) gets a plain SGD step: no weight decay, no trust ratio.
    assert torch.allclose(bias.detach(), torch.tensor([1.0 - lr * 0.5]))

    # Second step: the momentum buffer carries the first (scaled) update.
    first = ratio * update
    weight.grad = torch.tensor([[0.6, 0.8]])
    bias.grad = torch.tensor([0.5])
    before = weight.detach().clone()
    opt.step()
    second = torch.tensor([[0.6, 0.8]]) + wd * before
    second = eta * before.norm() / second.norm() * second
    assert torch.allclose(weight.detach(), before - lr * (0.9 * first + second), atol=1e-6)
    assert torch.allclose(bias.detach(), torch.tensor([1.0 - lr * 0.5 - lr * (0.9 * 0.5 + 0.5)]))


def test_lars_exclusions_and_zero_norms():
    assert excluded_from_adaptation(torch.zeros(3)) and excluded_from_adaptation(torch.zeros(()))
    assert not excluded_from_adaptation(torch.zeros(2, 3)) and not excluded_from_adaptation(torch.zeros(2, 1, 3, 3))
    norm = nn.BatchNorm1d(2)
    norm.weight.grad = torch.tensor([1.0, 2.0])
    LARS(norm.parameters(), lr=1.0, momentum=0.0, weight_decay=1.0, eta=1e-3).step()
    assert torch.allclose(norm.weight.detach(), torch.tensor([0.0, -1.0]))  # plain SGD, no decay
    # exclude_1d=False: the 1-D tensor gets the trust ratio too.
    vector = nn.Parameter(torch.tensor([3.0, 4.0]))
    vector.grad = torch.tensor([1.0, 0.0])
    LARS([vector], lr=1.0, momentum=0.0, eta=0.1, exclude_1d=False).step()
    assert torch.allclose(vector.detach(), torch.tensor([3.0 - 0.1 * 5.0, 4.0]))
    # Zero weights (or a zero update) fall back to a ratio of 1.
    zero = nn.Parameter(torch.zeros(2, 2))
    zero.grad = torch.ones(2, 2)
    LARS([zero], lr=0.5, momentum=0.0, eta=1e-3).step()
    assert torch.allclose(zero.detach(), torch.full((2, 2), -0.5))


@pytest.mark.parametrize("kwargs", [{"lr": -1.0}, {"lr": 0.1, "momentum": 1.0}, {"lr": 0.1, "eta": 0.0},
                                    {"lr": 0.1, "weight_decay": -1.0}])
def test_lars_rejects_bad_options(kwargs):
    with pytest.raises(ValueError):
        LARS([nn.Parameter(torch.zeros(2, 2))], **kwargs)


def test_warmup_cosine_endpoints_and_monotonicity():
    base, total, warmup = 2.0, 100, 10
    lrs = [warmup_cosine(s, total, warmup, base, final_fraction=0.1) for s in range(total + 5)]
    assert lrs[0] == pytest.approx(base / warmup)
    assert lrs[warmup - 1] == pytest.approx(base) and lrs[warmup] == pytest.approx(base)
    assert lrs[total] == pytest.approx(0.1 * base) and lrs[-1] == pytest.approx(0.1 * base)
    assert all(a <= b for a, b in zip(lrs[:warmup], lrs[1 : warmup + 1]))
    assert all(a >= b for a, b in zip(lrs[warmup:], lrs[warmup + 1 :]))
    midpoint = warmup + (total - warmup) // 2
    assert lrs[midpoint] == pytest.approx(base * (0.1 + 0.9 * 0.5))
    assert warmup_cosine(0, 10, 0, 1.0) == 1.0 and warmup_cosine(10, 10, 0, 1.0) == 0.0
    assert all(math.isfinite(warmup_cosine(s, 5, 20, 1.0)) for s in range(10))  # warm-up longer than the run
    with pytest.raises(ValueError):
        warmup_cosine(-1, 10, 0, 1.0)
    with pytest.raises(ValueError):
        warmup_cosine(0, 10, 0, 1.0, final_fraction=2.0)
