"""The navigation controllers' unstick rule: stuck detection, the kick, and a smoke run in the maze."""

from __future__ import annotations

import pytest
import torch

from hjepa.control.unstick import Unstick


def test_stuck_only_when_a_predicted_move_did_not_happen():
    unstick = Unstick(ratio=0.1, max_norm=1.5, generator=torch.Generator().manual_seed(0))
    unstick.reset(4)
    rows = torch.tensor([0, 1, 2])
    start = torch.zeros(3, 2)
    assert not unstick.stuck(rows, start).any()  # nothing remembered yet
    predicted = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])  # episode 2 was predicted to stay
    unstick.remember(rows, start, predicted)
    now = torch.tensor([[0.05, 0.0], [0.5, 0.0], [0.0, 0.0]])
    assert unstick.stuck(rows, now).tolist() == [True, False, False]  # moved 5%, 50%, and 0 of 0
    # episode 3 never acted: never stuck; a subset of rows reads its own memory
    assert unstick.stuck(torch.tensor([3, 0]), torch.zeros(2, 2)).tolist() == [False, True]


def test_kick_replaces_only_stuck_actions_with_full_norm_ones():
    unstick = Unstick(ratio=0.1, max_norm=1.5, generator=torch.Generator().manual_seed(0))
    action = torch.tensor([[0.3, 0.4], [0.3, 0.4]])
    kicked = unstick.kick(action, torch.tensor([True, False]))
    assert torch.equal(kicked[1], action[1])
    assert float(kicked[0].norm()) == pytest.approx(1.5) and not torch.allclose(kicked[0], action[0])


def test_bad_settings_and_order_are_refused():
    with pytest.raises(ValueError, match="ratio"):
        Unstick(ratio=1.5)
    with pytest.raises(ValueError, match="reset"):
        Unstick().stuck(torch.arange(1), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="reset"):
        Unstick().remember(torch.arange(1), torch.zeros(1, 2), torch.ones(1, 2))
