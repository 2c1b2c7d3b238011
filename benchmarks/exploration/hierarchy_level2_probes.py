"""Exploratory probes of the maze's learned level 2 (issue 19), as run on 2026-12-07 on validation tasks only.

Each mode is one probe
every number it prints is a validation figure (tasks seed 20000 + group), reported in
``benchmarks/results/hierarchy_targets.md``. Not a benchmark: no result file, no test split. Run from ``benchmarks/``:

    python exploration/hierarchy_level2_probes.py base 24            # learned vs oracle level 2, horizons 10 and 30
    python exploration/hierarchy_level2_probes.py oracle 24 "--plan.samples 128"
    python exploration/hierarchy_level2_probes.py ens 24             # ensemble of level-2 predictors + disagreement
    python exploration/hierarchy_level2_probes.py predgraph 24       # landmark nodes, edges predicted by level 2
    python exploration/hierarchy_level2_probes.py practice 24 3 128  # practice rounds for level 2
    python exploration/hierarchy_level2_probes.py macro 24 0.5 fresh 4000 512 nonoise  # walks of held macro-actions
    python exploration/hierarchy_level2_probes.py l2dim 8 6000 24    # retrain level 2 with another state size

Uses the checkpoint of a default ``hjepa maze`` run at ``../runs/bench/maze-main``
writes caches to ``OUT``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hierarchy_suite import Config as SuiteConfig
from hierarchy_suite import SimulatorLevel2, landmark_graph, train_or_load
from hjepa.control.episodes import run_episodes
from hjepa.control.hierarchical import HierarchicalMPC
from hjepa.control.landmark_level2 import walk_states
from hjepa.control.unstick import Unstick
from hjepa.control.worlds import PositionWorld
from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import RenderedFrames, WindowSampler
from hjepa.envs.maze_tasks import sample_maze_tasks
from hjepa.planning.hierarchical import HierarchicalPlanner, TwoLevelProblem
from hjepa.planning.landmarks import LandmarkGraph, nearest_two
from hjepa.planning.latent import closest_approach
from hjepa.planning.search import SpreadSearch
from hjepa.recipes.maze import collect, evaluate, level1_planner, make_controllers
from hjepa.world.hierarchy import HighLevelModel
from hjepa.world.hierarchy_train import train_high_level
from hjepa.world.latent import LatentPredictor

OUT = Path("../runs/bench/level2-probes")
OUT.mkdir(parents=True, exist_ok=True)
"""Issue 19 experiments: learned level 2 on validation tasks (seed 20000 + group)."""

torch.set_num_threads(1)
CKPT = Path("../runs/bench/maze-main/checkpoints/hierarchy.pt")

def setup(extra=""):
    suite = SuiteConfig(checkpoint=CKPT, threads=1, extra_args=extra)
    job, env, low, high, probe, _, _ = train_or_load(suite)
    return job, env, low, high, probe

def tasks_for(env, group, n, seed=20000):
    groups = {"1-2": 0, "3-4": 1, "5-6": 2, "7-8": 3}
    lo, hi = (int(v) for v in group.split("-"))
    return sample_maze_tasks(env, n, torch.Generator().manual_seed(seed + groups[group]), lo, hi)

def run(job, env, low, high, probe, tasks, tag, flat=False):
    job = dataclasses.replace(job, eval=dataclasses.replace(job.eval, flat_baseline=flat), progress=False)
    t = time.perf_counter()
    res = evaluate(job, env, make_controllers(job, env, low, high, probe), tasks)
    for label, (r, _) in res.items():
        s = r.summary()
        print(f"{tag} {label}: {s['success_rate']:.3f} ({int(s['episodes'])} eps) plan {s['planning_seconds']:.1f}s "
          f"wall {time.perf_counter()-t:.0f}s", flush=True)
    return res

if __name__ == "__main__":
    what = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    if what == "base":
        for h in (10, 30):
            job, env, low, high, probe = setup(f"--plan.high-horizon {h}")
            tasks = tasks_for(env, "7-8", n)
            run(job, env, low, high, probe, tasks, f"learned h{h} 7-8")
            sim = SimulatorLevel2(env, low, probe, job.level2.macro_steps, env.sample_layout(1))
            run(job, env, low, sim, probe, tasks, f"simulator h{h} 7-8")

# ---------------- ensemble ----------------

class EnsembleLevel2(torch.nn.Module):
    latent_dim = 0
    def __init__(self, high, members, penalty, reduce="mean"):
        super().__init__()
        self.high = high
        self.members = torch.nn.ModuleList(members)
        self.low_state_dim, self.low_action_dim, self.macro_steps = high.low_state_dim, high.low_action_dim, high.macro_steps
        self.z_scale = torch.zeros(0)
        self.penalty, self.reduce = penalty, reduce
    def abstract(self, s1):
        return self.high.abstract(s1)
    def held_direction_actions(self, speeds, directions=8):
        return self.high.held_direction_actions(speeds, directions)
    def lift(self, s):  # (B, D) -> (B, E, D)
        return s.unsqueeze(1).expand(s.shape[0], len(self.members), s.shape[-1]).contiguous()
    def lower(self, s):
        return s.mean(-2)
    def dynamics(self, state, action):  # (B, S, E, D), (B, S, U)
        outs = [m(state[:, :, e], action) for e, m in enumerate(self.members)]
        return torch.stack(outs, 2)
    def cost(self, goal):
        def cost(states, actions):  # (B, S, T+1, E, D)
            per = closest_approach(states, goal.unsqueeze(1), event_dims=1)  # (B, S, E)
            base = per.mean(-1) if self.reduce == "mean" else per.max(-1).values
            if self.penalty:
                dis = states[:, :, 1:].var(dim=3).sum(-1).sum(-1)  # (B, S)
                base = base + self.penalty * dis
            return base
        return cost

class EnsembleMPC(HierarchicalMPC):
    def _problem(self):
        h = self.high
        return TwoLevelProblem(self._low_dynamics, h.dynamics, h.abstract, h.cost, lift=h.lift, lower=h.lower)

def precompute(job, env, low, high, episodes=2000):
    data = collect(job, env, job.seed, episodes)
    t = time.perf_counter()
    s2 = walk_states(env, low, high, data)  # (E, T1+1, D2)
    print(f"walk states {tuple(s2.shape)} in {time.perf_counter()-t:.0f}s", flush=True)
    return data, s2

def train_members(high, data, s2, n_new, steps=3000, batch=256, window=4, seed=0, include_old=True, lr=2e-3):
    g = torch.Generator().manual_seed(seed)
    k = high.macro_steps
    fs = high.low_action_dim // 2
    E, T1 = s2.shape[:2]
    acts = data.actions  # (E, T, 2)
    members = [LatentPredictor(high.state_dim, high.latent_action_dim, 0, high._sizes["hidden"], high._sizes["layers"]) for _ in range(n_new)]
    params = [p for m in members for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    t = time.perf_counter()
    for step in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = lr * min(1, (step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + torch.cos(torch.tensor(3.14159 * step / steps)).item()))
        ep = torch.randint(E, (batch,), generator=g)
        st = torch.randint(T1 - window * k, (batch,), generator=g)
        idx = st[:, None] + k * torch.arange(window + 1)
        target = s2[ep[:, None], idx]  # (B, W+1, D)
        a_idx = st[:, None] * fs + torch.arange(window * k * fs)
        a = acts[ep[:, None], a_idx].reshape(batch, window, -1)
        with torch.no_grad():
            mean, log_var = high.encode_actions(a)
            u = mean + (0.5 * log_var).exp() * torch.randn(mean.shape, generator=g)
        loss = 0
        for m in members:
            s = target[:, 0]
            for w in range(window):
                s = m(s, u[:, w])
                loss = loss + (s - target[:, w + 1]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"  step {step} loss/member/step {float(loss) / (n_new * window):.4f} ({time.perf_counter()-t:.0f}s)", flush=True)
    for m in members:
        m.eval()
    return ([high.predictor] if include_old else []) + members

def run_ens(job, env, low, ens, probe, tasks, tag):
    p = job.plan
    bound = min(p.max_action, env.config.max_step)
    vocab = ens.held_direction_actions(tuple(min(s, bound) for s in p.speeds))
    planner = HierarchicalPlanner(SpreadSearch(vocab, p.beam, p.keep_best, p.prefer_shorter), level1_planner(job, bound),
                                  p.high_horizon, p.low_horizon, p.replan_every)
    ctl = EnsembleMPC(env, low, ens, planner, torch.Generator().manual_seed(job.eval.seed + 1), bound,
                      unstick=Unstick(max_norm=bound, generator=torch.Generator().manual_seed(job.eval.seed + 3)))
    job = dataclasses.replace(job, progress=False)
    t = time.perf_counter()
    res = evaluate(job, env, {"ens": ctl}, tasks)
    s = res["ens"][0].summary()
    print(f"{tag}: {s['success_rate']:.3f} ({int(s['episodes'])} eps) plan {s['planning_seconds']:.1f}s "
          f"wall {time.perf_counter()-t:.0f}s", flush=True)
    return s["success_rate"]

def ens_main(n, horizons=(10, 30), penalties=(0.0, 1.0, 3.0), reduces=("mean",), n_new=4, steps=3000):
    job, env, low, high, probe = setup()
    cache = str(OUT / "s2.pt")
    if os.path.exists(cache):
        s2 = torch.load(cache)
        data = collect(job, env, job.seed, 2000)
    else:
        data, s2 = precompute(job, env, low, high)
        torch.save(s2, cache)
    members = train_members(high, data, s2, n_new, steps=steps)
    torch.save([m.state_dict() for m in members], f"{OUT}/members{n_new}.pt")
    for h in horizons:
        jobh, env, low, high, probe = setup(f"--plan.high-horizon {h}")
        tasks = tasks_for(env, "7-8", n)
        for red in reduces:
            for pen in penalties:
                run_ens(jobh, env, low, EnsembleLevel2(high, members, pen, red), probe, tasks, f"ens h{h} {red} pen {pen} 7-8")

if __name__ == "__main__" and sys.argv[1] == "ens":
    ens_main(int(sys.argv[2]))

if __name__ == "__main__" and sys.argv[1] == "oracle":
    for extra in sys.argv[3:]:
        job, env, low, high, probe = setup(extra)
        tasks = tasks_for(env, "7-8", int(sys.argv[2]))
        sim = SimulatorLevel2(env, low, probe, job.level2.macro_steps, env.sample_layout(1))
        run(job, env, low, sim, probe, tasks, f"simulator [{extra}] 7-8")

# ---------------- landmarks with predicted edges ----------------
def predicted_graph(graph, high, speeds, max_ratio=0.8, unroll=1):
    L = graph.landmarks
    vocab = high.held_direction_actions(speeds)  # (K, U)
    n, K = L.shape[0], vocab.shape[0]
    with torch.no_grad():
        s = L.repeat_interleave(K, 0)
        u = vocab.repeat(n, 1)
        for _ in range(unroll):
            s = high.step(s, u)
    idx, ratio = nearest_two(s, L)
    src = torch.arange(n).repeat_interleave(K)
    ok = ratio <= max_ratio
    adj = torch.zeros(n, n, dtype=torch.bool)
    adj[src[ok], idx[ok]] = True
    return LandmarkGraph(L, adj)

def edge_check(graph, high, low, probe, env):
    """Fraction of edges whose decoded landmark positions cross a wall (straight line check via env.step)."""
    pos = probe.predict(high.readout(graph.landmarks))
    a, b = graph.adjacency.nonzero(as_tuple=True)
    layout = env.sample_layout(1).index(torch.zeros(len(a), dtype=torch.long))
    p = pos[a].clone()
    target = pos[b]
    for _ in range(40):
        d = target - p
        step = d * (1.2 / d.norm(dim=1, keepdim=True).clamp_min(1.2))
        p = env.step(p, step, layout)
    blocked = (p - target).norm(dim=1) > 3.0
    return float(blocked.float().mean()), len(a)

if __name__ == "__main__" and sys.argv[1] == "predgraph":
    suite = SuiteConfig(checkpoint=CKPT, threads=1)
    job, env, low, high, probe, _, _ = train_or_load(suite)
    graph, note = landmark_graph(suite, job, env, low, high)
    print(note)
    print("observed edges: blocked frac %.3f of %d" % edge_check(graph, high, low, probe, env))
    tasks = tasks_for(env, "7-8", int(sys.argv[2]))
    job = dataclasses.replace(job, eval=dataclasses.replace(job.eval, flat_baseline=False), progress=False)
    for speeds, ratio, unroll in [((1.2, 0.6), 0.8, 1), ((1.2, 0.6, 0.3), 0.8, 1), ((1.2, 0.6), 0.6, 1)]:
        pg = predicted_graph(graph, high, speeds, ratio, unroll)
        print(f"pred graph speeds {speeds} ratio {ratio}: edges {int(pg.adjacency.sum())} longest {int(pg.hops.max())}; "
              "blocked frac %.3f of %d" % edge_check(pg, high, low, probe, env), flush=True)
        t = time.perf_counter()
        res = evaluate(job, env, make_controllers(job, env, low, high, probe, landmarks=pg), tasks)
        for label, (r, _) in res.items():
            print(f"  {label}: {r.summary()['success_rate']:.3f} "
          f"wall {time.perf_counter()-t:.0f}s", flush=True)

# ---------------- practice for level 2 ----------------
class Recorder:
    def __init__(self, inner):
        self.inner, self.action_repeat = inner, inner.action_repeat
    def reset(self, tasks):
        self.log = []
        self.inner.reset(tasks)
    def act(self, obs, rows):
        out = self.inner.act(obs, rows)
        self.log.append((rows.clone(), torch.as_tensor(out.action).detach().clone()))
        return out

def practice_data(job, env, low, high, probe, n, seed):
    """Run the learned hierarchy on n practice tasks; return s2 at decisions (N, D+1, D2), actions (N, D, 2), lengths (N,)."""
    tasks = sample_maze_tasks(env, n, torch.Generator().manual_seed(seed), 1, 8)
    ctl = make_controllers(dataclasses.replace(job, eval=dataclasses.replace(job.eval, flat_baseline=False)), env, low, high, probe)
    rec = Recorder(next(iter(ctl.values())))
    t = time.perf_counter()
    res = run_episodes(PositionWorld(env), rec, tasks, env.config.max_episode_steps)
    D = len(rec.log)
    acts = torch.zeros(n, D, 2)
    lengths = torch.zeros(n, dtype=torch.long)
    for d, (rows, a) in enumerate(rec.log):
        acts[rows, d] = a.float()
        lengths[rows] += 1
    pos = res.paths[:, ::rec.action_repeat][:, :D + 1]  # (N, D+1, 2)
    with torch.no_grad():
        flat = pos.reshape(-1, 2)
        layout = tasks.layout.index(torch.arange(n).repeat_interleave(D + 1))
        s2 = torch.cat([high.abstract(low.encode(env.render(flat[r], layout.index(r)))) for r in torch.arange(len(flat)).split(4096)])
    print(f"practice {n} tasks: success {res.success_rate:.3f}, {D} decisions, {time.perf_counter()-t:.0f}s", flush=True)
    return s2.view(n, D + 1, -1), acts, lengths

def finetune(high, walk_s2, walk_acts, prac, steps=2000, batch=256, window=4, lr=1e-3, frac=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    k = high.macro_steps
    fs = high.low_action_dim // 2
    E, T1 = walk_s2.shape[:2]
    opt = torch.optim.AdamW(high.predictor.parameters(), lr=lr, weight_decay=1e-4)
    high.train()
    ps2, pacts, plen = prac
    span = window * k
    ok_eps = (plen >= span).nonzero().squeeze(1)
    t = time.perf_counter()
    for step in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = lr * min(1, (step + 1) / 100)
        nb_p = int(batch * frac) if len(ok_eps) else 0
        nb_w = batch - nb_p
        ep = torch.randint(E, (nb_w,), generator=g)
        st = torch.randint(T1 - span, (nb_w,), generator=g)
        idx = st[:, None] + k * torch.arange(window + 1)
        target_w = walk_s2[ep[:, None], idx]
        a_idx = st[:, None] * fs + torch.arange(span * fs)
        a_w = walk_acts[ep[:, None], a_idx].reshape(nb_w, window, -1)
        targets, acts = [target_w], [a_w]
        if nb_p:
            pe = ok_eps[torch.randint(len(ok_eps), (nb_p,), generator=g)]
            pst = (torch.rand(nb_p, generator=g) * (plen[pe] - span + 1)).long()
            pidx = pst[:, None] + k * torch.arange(window + 1)
            targets.append(ps2[pe[:, None], pidx])
            dec = pacts[pe[:, None], pst[:, None] + torch.arange(span)]  # (nb, span, 2)
            acts.append(dec.repeat_interleave(fs, dim=1).reshape(nb_p, window, -1))
        target, a = torch.cat(targets), torch.cat(acts)
        with torch.no_grad():
            mean, log_var = high.encode_actions(a)
            u = mean + (0.5 * log_var).exp() * torch.randn(mean.shape, generator=g)
        s = target[:, 0]
        loss = 0
        for w in range(window):
            s = high.predictor(s, u[:, w])
            loss = loss + (s - target[:, w + 1]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(high.predictor.parameters(), 5.0)
        opt.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"  finetune step {step} loss {float(loss.detach()) / window:.4f} ({time.perf_counter()-t:.0f}s)", flush=True)
    high.eval()

if __name__ == "__main__" and sys.argv[1] == "practice":
    n_val = int(sys.argv[2])
    rounds = int(sys.argv[3])
    n_prac = int(sys.argv[4])
    job, env, low, high, probe = setup()
    s2 = torch.load(str(OUT / "s2.pt"))
    data = collect(job, env, job.seed, 2000)
    val = tasks_for(env, "7-8", n_val)
    val56 = tasks_for(env, "5-6", n_val)
    pool = []
    for r in range(rounds):
        prac = practice_data(job, env, low, high, probe, n_prac, 30000 + r)
        pool.append(prac)
        D = max(p[0].shape[1] for p in pool)
        def pad(x, D):
            return torch.cat([x, x.new_zeros(x.shape[0], D - x.shape[1], *x.shape[2:])], 1)
        merged = (torch.cat([pad(p[0], D) for p in pool]), torch.cat([pad(p[1], D - 1) for p in pool]), torch.cat([p[2] for p in pool]))
        finetune(high, s2, data.actions, merged, steps=1500, seed=r)
        torch.save(high.state_dict(), f"{OUT}/high_practice_r{r}.pt")
        run(job, env, low, high, probe, val, f"round {r} 7-8")
        run(job, env, low, high, probe, val56, f"round {r} 5-6")

# ---------------- macro walks: exploration with the planner's own macro-actions ----------------
def macro_walks(env, episodes, steps, seed, speeds=(1.2, 0.6), hold=16):
    g = torch.Generator().manual_seed(seed)
    layout = env.sample_layout(episodes, g)
    room = torch.randint(env.config.num_rooms, (episodes,), generator=g)
    pos = env.sample_in_room(room, g, margin=0.5)
    angle = torch.arange(8, dtype=torch.float32) * (2 * torch.pi / 8)
    unit = torch.stack([angle.cos(), angle.sin()], -1)
    vocab = torch.cat([s * unit for s in speeds])
    P, A = [pos], []
    for t in range(steps):
        if t % hold == 0:
            a = vocab[torch.randint(len(vocab), (episodes,), generator=g)]
        pos = env.step(pos, a, layout)
        P.append(pos)
        A.append(a)
    arrays = {"positions": torch.stack(P, 1), "actions": torch.stack(A, 1), "door_drawn": layout.drawn.clone(),
              "door_passable": layout.passable.clone(), "door_centre": layout.centre.float().clone()}
    return Trajectories.from_arrays(arrays)

def train_predictor_mixed(high, sets, steps=3000, batch=256, window=4, lr=1e-3, seed=0, fresh=False, aligned=(False, True), hidden=None, noise=True):
    """sets: list of (s2 (E, T1, D), actions (E, T, 2), fraction)."""
    g = torch.Generator().manual_seed(seed)
    k = high.macro_steps
    fs = high.low_action_dim // 2
    pred = high.predictor
    if fresh:
        pred = LatentPredictor(high.state_dim, high.latent_action_dim, 0, hidden or high._sizes["hidden"], high._sizes["layers"])
    opt = torch.optim.AdamW(pred.parameters(), lr=lr, weight_decay=1e-4)
    t = time.perf_counter()
    for step in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = lr * min(1, (step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + torch.cos(torch.tensor(3.14159 * step / steps)).item()))
        targets, acts = [], []
        for (s2, actions, frac), al in zip(sets, aligned):
            nb = int(batch * frac)
            E, T1 = s2.shape[:2]
            ep = torch.randint(E, (nb,), generator=g)
            if al:
                st = torch.randint((T1 - 1) // k - window + 1, (nb,), generator=g) * k
            else:
                st = torch.randint(T1 - window * k, (nb,), generator=g)
            idx = st[:, None] + k * torch.arange(window + 1)
            targets.append(s2[ep[:, None], idx])
            a_idx = st[:, None] * fs + torch.arange(window * k * fs)
            acts.append(actions[ep[:, None], a_idx].reshape(nb, window, -1))
        target, a = torch.cat(targets), torch.cat(acts)
        with torch.no_grad():
            mean, log_var = high.encode_actions(a)
            u = mean + (0.5 * log_var).exp() * torch.randn(mean.shape, generator=g) if noise else mean
        s = target[:, 0]
        loss = 0
        for w in range(window):
            s = pred(s, u[:, w])
            loss = loss + (s - target[:, w + 1]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(pred.parameters(), 5.0)
        opt.step()
        if step % 1000 == 0 or step == steps - 1:
            print(f"  train step {step} loss {float(loss.detach()) / window:.4f} ({time.perf_counter()-t:.0f}s)", flush=True)
    pred.eval()
    high.predictor = pred
    high.eval()

if __name__ == "__main__" and sys.argv[1] == "macro":
    n_val = int(sys.argv[2])
    frac = float(sys.argv[3])
    fresh = sys.argv[4] == "fresh"
    steps = int(sys.argv[5])
    job, env, low, high, probe = setup()
    s2w = torch.load(str(OUT / "s2.pt"))
    data = collect(job, env, job.seed, 2000)
    mw = macro_walks(env, 2000, 400, 777)
    t = time.perf_counter()
    s2m = walk_states(env, low, high, mw)
    print(f"macro walk states {tuple(s2m.shape)} {time.perf_counter()-t:.0f}s", flush=True)
    sets = [(s2w, data.actions, 1 - frac), (s2m, mw.actions, frac)]
    hidden = int(sys.argv[6]) if len(sys.argv) > 6 else None
    noise = not (len(sys.argv) > 7 and sys.argv[7] == "nonoise")
    train_predictor_mixed(high, sets, steps=steps, fresh=fresh, hidden=hidden, noise=noise, lr=2e-3 if fresh else 1e-3)
    torch.save(high.state_dict(), f"{OUT}/high_macro_{frac}_{sys.argv[4]}.pt")
    for grp in ("7-8", "5-6", "3-4"):
        run(job, env, low, high, probe, tasks_for(env, grp, n_val), f"macro frac {frac} {sys.argv[4]} {grp}")

if __name__ == "__main__" and sys.argv[1] == "l2dim":
    d2 = int(sys.argv[2])
    steps = int(sys.argv[3])
    n_val = int(sys.argv[4])
    job, env, low, high0, probe = setup()
    data = collect(job, env, job.seed, 2000)
    k2 = job.level2.macro_steps * job.model.frameskip
    win = WindowSampler(data, RenderedFrames(env, data, job.model.obs_pool), job.level2_train.window, k2)
    c = job.level2
    high = HighLevelModel(low.state_dim, d2, c.macro_steps, low.action_dim, c.latent_action_dim, 0, c.hidden, c.layers)
    cfg = dataclasses.replace(job.level2_train, steps=steps)
    t = time.perf_counter()
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    train_high_level(high, low, win, job.level2_loss, cfg, torch.Generator().manual_seed(seed), show_progress=False)
    print(f"trained level 2 dim {d2} in {time.perf_counter()-t:.0f}s", flush=True)
    torch.save(high.state_dict(), f"{OUT}/high_d{d2}.pt")
    for grp in ("7-8", "5-6", "3-4"):
        run(job, env, low, high, probe, tasks_for(env, grp, n_val), f"d2={d2} seed {seed} {grp}")
