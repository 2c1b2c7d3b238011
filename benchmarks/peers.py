"""hjepa's hot paths beside what a user would write instead, in one process on one machine: ratios.

1. Objectives: VICReg, Barlow Twins, InfoNCE and SIGReg forward + backward at (256, 2048) and
   (512, 8192) against a plain reference formula written here (the textbook expression, no
   checks, no distributed gathering). Target: hjepa / reference <= 1.1.
2. Planners: MPPI and CEM against the batched rollout + cost they must perform anyway (the same
   number of dynamics and cost evaluations, without the planner's sampling, weighting and updates):
   K = 1000 samples, H = 30, an MLP dynamics 66 -> 256 -> 64 (state 64 + action 2); and the Two Rooms
   demo's convolutional predictor at the demo's budget. Target: overhead <= 10%.
3. World model: the Two Rooms demo's training step and planning call beside a PLDM / eb_jepa-sized
   model (their published Two Rooms sizes: a conv encoder of 16-32-32 channels on 64x64 frames to an
   8x8 map and a two-layer conv predictor) at the same batch and horizon.
4. SSL trainer: images/s of ``hjepa ssl train``'s loop against the raw forward + backward +
   optimiser step of the same backbone, projector and loss on the same views. Target: >= 90%.

    python benchmarks/peers.py            # about 10 minutes on 2 cores
    python benchmarks/peers.py --quick    # smoke run (small sizes, seconds)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import tyro

from common import RESULTS_DIR, write_result
from hjepa.control.dynamics import learned_dynamics
from hjepa.control.plan_config import PlanConfig, make_planner
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.nn.mlp import mlp
from hjepa.objectives.barlow import barlow_twins_loss
from hjepa.objectives.infonce import info_nce_loss
from hjepa.objectives.sigreg import sigreg_loss
from hjepa.objectives.vicreg import vicreg_loss
from hjepa.planning.base import rollout
from hjepa.planning.cem import CEM
from hjepa.planning.mppi import MPPI
from hjepa.runs.machine import cpu_kind
from hjepa.ssl.config import SSLTrainConfig, build_ssl_model
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.trainer import make_optimizer, train_ssl
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.objective import WorldModelLossWeights, world_model_loss


@dataclass(frozen=True)
class Config:
    """Peer comparison benchmark."""

    quick: bool = False
    """Tiny sizes (a smoke run)."""
    repeats: int = 10
    """Timed repetitions (medians are reported)."""
    threads: int = 2
    """Torch threads."""
    out_dir: Path = RESULTS_DIR


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ------------------------------------------------------------------------------ 1. objectives
def reference_vicreg(a, b):
    """VICReg's three terms as written in the paper: 25 * MSE + 25 * variance hinge + 1 * covariance."""
    n, d = a.shape
    inv = F.mse_loss(a, b)
    var = sum(F.relu(1 - torch.sqrt(z.var(dim=0) + 1e-4)).mean() for z in (a, b)) / 2
    cov = 0.0
    for z in (a, b):
        z = z - z.mean(dim=0)
        c = (z.T @ z) / (n - 1)
        cov = cov + (c.square().sum() - c.diagonal().square().sum()) / d
    return 25 * inv + 25 * var + cov


def reference_barlow(a, b, lambd=0.0051):
    n = a.shape[0]
    a, b = (a - a.mean(0)) / a.std(0, unbiased=False), (b - b.mean(0)) / b.std(0, unbiased=False)
    c = a.T @ b / n
    on = (1 - c.diagonal()).square().sum()
    off = c.square().sum() - c.diagonal().square().sum()
    return on + lambd * off


def reference_infonce(a, b, t=0.1):
    n = a.shape[0]
    z = F.normalize(torch.cat([a, b]), dim=-1)
    logits = z @ z.T / t
    logits.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, target)


def reference_sigreg(z, directions, points=17, t_max=3.0):
    proj = z @ directions.T  # (N, M)
    t = torch.linspace(-t_max, t_max, points)
    phi = torch.exp(-0.5 * t.square())
    tx = proj.unsqueeze(-1) * t
    err = (tx.cos().mean(0) - phi).square() + tx.sin().mean(0).square()
    return (z.shape[0] * torch.trapezoid(err * phi, t, dim=-1)).mean()


def objective_rows(config: Config) -> list[dict]:
    sizes = [(64, 128)] if config.quick else [(256, 2048), (512, 8192)]
    rows = []
    for n, d in sizes:
        g = torch.Generator().manual_seed(0)
        a = torch.randn(n, d, generator=g, requires_grad=True)
        b = torch.randn(n, d, generator=g, requires_grad=True)
        directions = F.normalize(torch.randn(256, d, generator=g), dim=-1)
        cases = {
            "VICReg": (lambda: vicreg_loss(a, b).total, lambda: reference_vicreg(a, b)),
            "Barlow Twins": (lambda: barlow_twins_loss(a, b).total, lambda: reference_barlow(a, b)),
            "InfoNCE": (lambda: info_nce_loss(a, b), lambda: reference_infonce(a, b)),
            "SIGReg": (lambda: sigreg_loss(a, directions=directions), lambda: reference_sigreg(a, directions)),
        }
        for name, (ours, theirs) in cases.items():
            check = float(ours().detach()), float(theirs().detach())
            timings = [median_seconds(lambda f=f: f().backward(), config.repeats) for f in (ours, theirs)]
            rows.append({"measure": f"{name} fwd+bwd ({n}, {d})", "hjepa_ms": 1000 * timings[0],
                         "reference_ms": 1000 * timings[1], "ratio": timings[0] / timings[1],
                         "target": "<= 1.1", "values_agree": abs(check[0] - check[1]) <= 1e-3 * max(1.0, abs(check[1]))})
    return rows


# ------------------------------------------------------------------------------ 2. planners
def raw_rollout_cost(s0, dynamics, cost, samples: int, horizon: int, action_dim: int, iterations: int, g):
    """What any sampling planner must do: ``iterations`` batched rollouts of ``samples`` plans and their cost."""
    for _ in range(iterations):
        actions = torch.randn(s0.shape[0], samples, horizon, action_dim, generator=g).clamp(-1, 1)
        cost(rollout(s0, actions, dynamics), actions)


def planner_rows(config: Config) -> list[dict]:
    rows = []
    k, h, iterations = (64, 8, 2) if config.quick else (1000, 30, 4)
    torch.manual_seed(0)
    net = mlp(66, 256, 64, 2)

    def mlp_dynamics(state, action):
        return state + net(torch.cat([state, action], dim=-1))

    s0 = torch.randn(1, 64)
    cost = IntrinsicCost(torch.zeros(1, 64), reduce_min=True)
    planners = {"MPPI": MPPI(2, -1.0, 1.0, samples=k, iterations=iterations, elites=k // 8),
                "CEM": CEM(2, -1.0, 1.0, samples=k, elites=k // 10, iterations=iterations)}
    with torch.no_grad():
        raw = median_seconds(lambda: raw_rollout_cost(s0, mlp_dynamics, cost, k, h, 2, iterations,
                                                      torch.Generator().manual_seed(0)), config.repeats)
        for name, planner in planners.items():
            ours = median_seconds(lambda p=planner: p.plan(s0, mlp_dynamics, cost, h, generator=torch.Generator().manual_seed(0)),
                                  config.repeats)
            rows.append({"measure": f"{name} K={k} H={h} x {iterations} iterations, MLP 66-256-64", "hjepa_ms": 1000 * ours,
                         "reference_ms": 1000 * raw, "ratio": ours / raw, "target": "<= 1.1"})
        # The demo's convolutional predictor at the demo's budget (64 samples x 2 iterations, H = 16), 8 episodes.
        model, _ = build_world_model(WorldModelConfig())
        model.eval()
        plan = PlanConfig()
        dynamics = learned_dynamics(model, 4, plan.max_action)
        s0 = torch.randn(8, model.state_dim)
        goal_cost = IntrinsicCost(torch.randn(8, model.state_dim), reduce_min=True)
        horizon = 4 if config.quick else plan.horizon
        raw = median_seconds(lambda: raw_rollout_cost(s0, dynamics, goal_cost, plan.samples, horizon, 2, plan.iterations,
                                                      torch.Generator().manual_seed(0)), config.repeats)
        planner = make_planner(plan, 2, plan.max_action)
        ours = median_seconds(lambda: planner.plan(s0, dynamics, goal_cost, horizon, generator=torch.Generator().manual_seed(0)),
                              config.repeats)
        rows.append({"measure": f"MPPI {plan.samples} x {plan.iterations}, H={horizon}, demo predictor, 8 episodes",
                     "hjepa_ms": 1000 * ours, "reference_ms": 1000 * raw, "ratio": ours / raw, "target": "<= 1.1"})
    return rows


# ------------------------------------------------------------------------------ 3. world models
PLDM_SIZED = WorldModelConfig(architecture="spatial", obs_pool=1, channels=(16, 32, 32), spatial_channels=8,
                              predictor_hidden=32, predictor_layers=2)
"""A PLDM / eb_jepa-sized Two Rooms model: conv encoder 16-32-32 on the 64x64 frames to an 8x8x8 map,
two-layer conv predictor (their published sizes, written here as hjepa's spatial model)."""


def world_model_rows(config: Config) -> list[dict]:
    rows = []
    batch, window = (16, 4) if config.quick else (128, 8)
    for label, model_config in (("hjepa demo model (16x16 input)", WorldModelConfig()), ("PLDM/eb_jepa-sized (64x64 input)", PLDM_SIZED)):
        torch.manual_seed(0)
        model, idm = build_world_model(model_config)
        params = [*model.parameters(), *idm.parameters()]
        optimizer = torch.optim.AdamW(params, lr=1e-3)
        obs = torch.rand(batch, window + 1, 2, 64, 64)
        actions = torch.randn(batch, window, 8)

        def step(model=model, idm=idm, optimizer=optimizer):
            loss, _ = world_model_loss(model, idm, obs, actions, WorldModelLossWeights())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        train = median_seconds(step, max(3, config.repeats // 2))
        model.eval()
        plan = PlanConfig()
        dynamics = learned_dynamics(model, 4, plan.max_action)
        planner = make_planner(plan, 2, plan.max_action)
        with torch.no_grad():
            s0 = model.encode(torch.rand(1, 2, 64, 64))
            cost = IntrinsicCost(s0.clone(), reduce_min=True)
            horizon = 4 if config.quick else plan.horizon
            planning = median_seconds(lambda: planner.plan(s0, dynamics, cost, horizon, generator=torch.Generator().manual_seed(0)),
                                      config.repeats)
        rows.append({"measure": f"training step, batch {batch} x {window} steps: {label}", "hjepa_ms": 1000 * train})
        rows.append({"measure": f"planning call (MPPI {plan.samples} x {plan.iterations}, H={horizon}, 1 episode): {label}",
                     "hjepa_ms": 1000 * planning})
    return rows


# ------------------------------------------------------------------------------ 4. SSL loop
def ssl_rows(config: Config) -> list[dict]:
    steps = 5 if config.quick else 40
    ssl = SSLTrainConfig(method="vicreg", dataset="digits" if config.quick else "mnist-5k", steps=steps + 1,
                         batch_size=64 if config.quick else 256, warmup_steps=1, progress=False, log_every=steps + 1,
                         checkpoint_every=0, threads=config.threads, precision="fp32")
    data = load_ssl_data(ssl.dataset, None, ssl.test_fraction, None, 3)
    stopped = train_ssl(ssl, None, data=data, stop_at=steps)  # the trainer's loop, stopped before its evaluation
    images_loop = steps * ssl.batch_size / stopped["train_seconds"]
    # The raw loop: the same method, views and optimiser, forward + backward + step, nothing around it.
    train = data[0]
    channels, size, _ = train.image_shape
    torch.manual_seed(ssl.seed)
    method, views = build_ssl_model(ssl, channels, size)
    optimizer = make_optimizer(ssl, [p for p in method.parameters() if p.requires_grad])
    images = train.float_images(torch.arange(ssl.batch_size))
    g = torch.Generator().manual_seed(0)
    method.train()

    def raw_step():
        out = method(views(images, g))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()

    raw = median_seconds(raw_step, max(3, config.repeats))
    images_raw = ssl.batch_size / raw
    return [{"measure": f"SSL trainer images/s (VICReg, {ssl.dataset}, batch {ssl.batch_size}, fp32)",
             "hjepa_ms": 1000 * ssl.batch_size / images_loop, "reference_ms": 1000 * raw,
             "ratio": images_loop / images_raw, "target": ">= 0.9 of the raw loop"}]


def main(config: Config) -> Path:
    torch.set_num_threads(config.threads)
    rows = [*objective_rows(config), *planner_rows(config), *world_model_rows(config), *ssl_rows(config)]
    return write_result(
        config.out_dir, "peers" + ("_quick" if config.quick else ""),
        title="hjepa beside what a user would write instead: objectives, planners, world models, the SSL loop",
        description=(f"One process, {config.threads} torch threads, CPU kind {cpu_kind()}, medians of {config.repeats} "
                     "repetitions after warm-up. ratio = hjepa time / reference time (objectives, planners) or hjepa "
                     "images/s / raw images/s (SSL loop)."),
        config=config, columns=["measure", "hjepa_ms", "reference_ms", "ratio", "target", "values_agree"], rows=rows,
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
