"""Online inference of z over fixed draws (hjepa.control.z_posterior) and the weighted cost it feeds."""

import pytest
import torch

from hjepa.control.z_posterior import LatentPosterior
from hjepa.errors import InputError
from hjepa.planning.latent import LatentSamples


def gated_step(s, u, z):
    """A door: the move ``u`` happens only when ``z > 0`` (open); ``(N, 2), (N, 2), (N, 1) -> (N, 2)``."""
    return s + u * (z > 0).to(s)


def posterior(temperature=0.05, decay=1.0):
    z = torch.tensor([[0.0], [1.0], [-1.0], [2.0]])  # closed, open, closed, open
    return LatentPosterior(gated_step, lambda a: a.view(len(a), -1, 2).sum(1), z, macro_steps=2, temperature=temperature,
                           decay=decay)


def run(post, rows, moves, door_open):
    """Two-decision macro steps: every decision moves by ``moves[t]`` when the door is open."""
    s = torch.zeros(len(rows), 2)
    for move in moves:
        post.observe_state(rows, s)
        action = move.expand(len(rows), 2)
        post.observe_action(rows, action)
        s = s + action * door_open.unsqueeze(1).to(s)
    post.observe_state(rows, s)


def test_the_posterior_moves_to_the_draws_that_predicted_what_happened():
    post = posterior()
    post.reset(4)
    rows = torch.arange(4)
    door_open = torch.tensor([True, False, True, False])
    run(post, rows, [torch.tensor([0.5, 0.0])] * 4, door_open)
    w = post.weights(rows)
    assert torch.allclose(w.sum(1), torch.ones(4))
    opened = w[:, [1, 3]].sum(1)
    assert bool((opened[door_open] > 0.99).all()) and bool((opened[~door_open] < 0.01).all())


def test_steps_every_draw_predicts_alike_leave_the_prior():
    post = posterior()
    post.reset(3)
    rows = torch.tensor([0, 2])
    run(post, rows, [torch.zeros(2)] * 5, torch.tensor([True, False]))  # standing still: no evidence
    assert torch.allclose(post.weights(torch.arange(3)), torch.full((3, 4), 0.25))


def test_with_decay_old_evidence_fades_and_without_it_stays():
    rows = torch.tensor([0])
    weights = []
    for decay in (1.0, 0.5):
        post = posterior(temperature=0.2, decay=decay)
        post.reset(1)
        # The agent pushes at a closed door, then stands still for 20 decisions (no evidence either way).
        moves = [torch.tensor([0.5, 0.0])] * 3 + [torch.zeros(2)] * 20
        run(post, rows, moves, torch.tensor([False]))
        weights.append(post.weights(rows)[0, [1, 3]].sum())
    assert weights[0] < 0.05 and abs(float(weights[1]) - 0.5) < 0.01


def test_no_macro_step_is_counted_before_k_decisions():
    post = posterior()
    post.reset(1)
    rows = torch.tensor([0])
    post.observe_state(rows, torch.zeros(1, 2))
    post.observe_action(rows, torch.ones(1, 2))
    post.observe_state(rows, torch.zeros(1, 2))  # one decision only: k = 2
    assert torch.allclose(post.weights(rows), torch.full((1, 4), 0.25))


def test_weighted_cost_and_lower_match_a_direct_computation():
    z = torch.tensor([[0.0], [1.0]])
    samples = LatentSamples(gated_step, z, "mean")
    goal = torch.tensor([[1.0, 0.0]])
    start = samples.lift(torch.zeros(1, 2))  # (1, 2, 2)
    actions = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]]).view(1, 2, 1, 2)  # (B=1, S=2, T=1, U=2)
    trajectories = torch.stack([start.unsqueeze(1).expand(1, 2, 2, 2),
                                samples.dynamics(start.unsqueeze(1).expand(1, 2, 2, 2).contiguous(), actions[:, :, 0])], dim=2)
    weights = torch.tensor([[0.25, 0.75]])
    cost = samples.cost(goal, weights)(trajectories, actions)  # (1, 2)
    # Plan 0 moves onto the goal when the door is open (weight 0.75), stays 1 away when closed.
    assert torch.allclose(cost, torch.tensor([[0.25 * 1.0 + 0.75 * 0.0, 1.0]]))
    lowered = samples.weighted_lower(weights)(trajectories)  # (1, 2, 2, 2)
    assert torch.allclose(lowered[0, 0, 1], torch.tensor([0.75, 0.0]))


@pytest.mark.parametrize("make", [
    lambda: LatentPosterior(gated_step, lambda a: a, torch.zeros(3), 2, 0.1),
    lambda: LatentPosterior(gated_step, lambda a: a, torch.zeros(3, 1), 0, 0.1),
    lambda: LatentPosterior(gated_step, lambda a: a, torch.zeros(3, 1), 2, 0.0),
    lambda: LatentPosterior(gated_step, lambda a: a, torch.zeros(3, 1), 2, 0.1, decay=0.0),
    lambda: LatentSamples(gated_step, torch.zeros(2, 1)).cost(torch.zeros(1, 2), torch.ones(1, 3)),
])
def test_bad_arguments_are_refused(make):
    with pytest.raises(InputError):
        make()


def test_use_before_reset_is_an_error():
    with pytest.raises(ValueError, match="reset"):
        posterior().weights(torch.tensor([0]))
