"""Exploratory diagnostic (issue 19), as run on 2026-12-07: does level 2's latent z, inferred per walk from its own macro
steps (grid search over 21 values of z, one-step prediction error summed over the walk), separate the walks whose
unreliable door was open from those where it was closed? The door state (privileged) is read only to score the answer.

    python benchmarks/exploration/stochastic_z_walks.py     # from the repository root

Uses the stochastic maze checkpoint with a learned distance, runs/s27/maze-stoch-distance (hjepa maze --checkpoint
runs/bench/bench-hierarchy-stochastic/checkpoints/hierarchy.pt --env.unreliable 6 --env.door-close-prob 0.5
--level2.latent-dim 1 --name maze-stoch-distance --runs-root runs/s27).
"""
import torch

from hjepa.control.landmark_level2 import walk_states
from hjepa.envs.maze import Maze, MazeConfig
from hjepa.recipes.maze import collect
from hjepa.recipes.maze_config import MazeJob
from hjepa.world.checkpoint import load_world_checkpoint

torch.set_num_threads(1)
ck = load_world_checkpoint("runs/s27/maze-stoch-distance/checkpoints/hierarchy.pt", "maze-hierarchy")
low, high = ck.model, ck.level2
cfg = MazeConfig(unreliable=(6,), door_close_prob=0.5)
env = Maze(cfg)
job = MazeJob(env=cfg)
walks = collect(job, env, 0, 600)
S = walk_states(env, low, high, walks)  # (E, 101, D2)
k = high.macro_steps
fs = low.action_dim // 2
E = S.shape[0]
s2 = S[:, ::k]  # macro boundaries (E, 26, D)
acts = walks.actions  # (E, 400, 2)
steps = k * fs
n = s2.shape[1] - 1
u = high.encode_actions(acts[:, : n * steps].reshape(E, n, steps * 2))[0]  # (E, n, U)
grid = torch.linspace(-2.5, 2.5, 21).unsqueeze(1) * high.z_scale.detach()
errs = []
with torch.no_grad():
    for z in grid:
        pred = high.step(s2[:, :-1], u, z.expand(E, n, -1))
        errs.append((pred - s2[:, 1:]).pow(2).mean(-1))  # (E, n)
err = torch.stack(errs)  # (G, E, n)
tot = err.sum(-1)  # (G, E)
zbest = grid[tot.argmin(0)].squeeze(-1)
spread = (tot.max(0).values - tot.min(0).values)
passable = walks.layout().passable[:, 6]
for flag in (True, False):
    m = passable == flag
    print("door open" if flag else "door closed", int(m.sum()), "z mean", float(zbest[m].mean()), "z std",
          float(zbest[m].std()), "energy spread", float(spread[m].mean()))
# walks whose evidence is strong
strong = spread > spread.median()
for flag in (True, False):
    m = (passable == flag) & strong
    print(" strong:", "open" if flag else "closed", int(m.sum()), "z mean", float(zbest[m].mean()))
