"""Several critics trained apart, planned with as one: ``V(s, g) = mean_k V_k(s, g)``.

One critic fitted on a few hundred episodes is wrong in places no data covers, and a planner
seeks exactly those places out (a low value there is an error it can exploit). Critics that start
from different initialisations and see different data err in different places, so their mean is
wrong less often. On Two Rooms at horizon 4 (300 episodes, docs/agent.md): one critic 93.3%; three
on the same memory 94.7%; three each fitting a bootstrap resample of the episodes
(``episode_weights``) 96.7%.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hjepa.agent.critic import Critic
from hjepa.errors import InputError


class CriticEnsemble(nn.Module):
    """The mean value of ``members`` (each a :class:`~hjepa.agent.critic.Critic` of the same sizes).

    Shapes: ``state (..., D)``, ``goal (..., G)`` -> ``(...)``, as a single critic.
    """

    def __init__(self, members: list[Critic]) -> None:
        super().__init__()
        if len(members) < 1:
            raise InputError("a critic ensemble needs at least one member")
        dims = {(m.state_dim, m.goal_dim) for m in members}
        if len(dims) != 1:
            raise InputError(f"ensemble members must share state and goal sizes, got {sorted(dims)}")
        self.members = nn.ModuleList(members)
        self.state_dim, self.goal_dim = members[0].state_dim, members[0].goal_dim

    @property
    def value_scale(self) -> Tensor:
        return self.members[0].value_scale

    def forward(self, state: Tensor, goal: Tensor) -> Tensor:
        return torch.stack([member(state, goal) for member in self.members]).mean(0)
