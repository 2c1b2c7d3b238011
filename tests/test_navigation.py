"""MPC and the batched episode loop in Two Rooms.

Known answers: MPC on the true simulator with the closest-approach cost reaches the other room;
random actions mostly do not; the learned dynamics agree with the world model's own rollout and
the simulator dynamics with stepping every sample on its own.
"""

from __future__ import annotations

import pytest
import torch

from hjepa.control.dynamics import learned_dynamics, simulator_dynamics
from hjepa.control.episodes import EpisodeResult, run_episodes
from hjepa.control.learned import LearnedMPC
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.protocol import ControllerOutput
from hjepa.control.random import RandomController, random_moves
from hjepa.control.simulator import SimulatorMPC
from hjepa.control.worlds import PositionWorld
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.envs.tasks import Tasks, sample_two_rooms_tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.nn.conv import ConvEncoder
from hjepa.planning.base import PlanResult, rollout, shift_plan
from hjepa.planning.gradient import GradientPlanner
from hjepa.planning.mppi import MPPI
from hjepa.recipes.episode_figures import episode_frames, plot_episode_paths
from hjepa.world.model import JEPAWorldModel
from hjepa.world.predictor import ResidualActionPredictor

REPEAT = 4
HORIZON = 16
MAX_STEPS = 200


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny tensors on a shared 2-core machine: threads cost more than they give.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def env() -> TwoRooms:
    return TwoRooms()


def simulator_controller(env: TwoRooms, seed: int) -> SimulatorMPC:
    # noise_std 1.5 (vs max_step 2.45) lets samples reach the door; with plain (not squared)
    # distances, temperature 0.5 weights samples by pixels of closest approach.
    m = env.config.max_step
    planner = MPPI(2, -m, m, samples=128, iterations=3, temperature=0.5, noise_std=1.5)
    mpc = ModelPredictiveController(planner, HORIZON, REPEAT, torch.Generator().manual_seed(seed))
    return SimulatorMPC(env, mpc, squared=False)


def tiny_model(seed: int = 0) -> JEPAWorldModel:
    torch.manual_seed(seed)
    encoder = ConvEncoder(2, 32, (8, 16), 16)
    predictor = ResidualActionPredictor(16, 2 * REPEAT, 32, 2)
    return JEPAWorldModel(encoder, predictor, obs_pool=2).eval()


@pytest.fixture(scope="module")
def simulator_run(env):
    tasks = sample_two_rooms_tasks(env, 10, 0)
    result = run_episodes(PositionWorld(env), simulator_controller(env, 0), tasks, MAX_STEPS, record=2)
    return tasks, result


@pytest.fixture(scope="module")
def random_run(env):
    tasks = sample_two_rooms_tasks(env, 10, 0)
    controller = RandomController(random_moves(env.config.max_step, torch.Generator().manual_seed(0)), REPEAT)
    return tasks, run_episodes(PositionWorld(env), controller, tasks, MAX_STEPS)


def assert_in_free_space(env: TwoRooms, tasks, result: EpisodeResult) -> None:
    # is_free broadcasts leading dims before N: (T, N, 2) against the N layouts.
    assert bool(env.is_free(result.paths.transpose(0, 1), tasks.layout).all())


# ------------------------------------------------------------------------------------ dynamics


def test_simulator_dynamics_matches_stepping_each_sample(env):
    layout = env.sample_layout(3, torch.Generator().manual_seed(1))
    pos = env.sample_in_room(layout, torch.tensor([0, 1, 0]), torch.Generator().manual_seed(2))
    state = pos.unsqueeze(1).repeat(1, 5, 1) + torch.randn(3, 5, 2).clamp(-1, 1)
    free = env.is_free(state.transpose(0, 1), layout).T  # (B, S)
    state = torch.where(free.unsqueeze(-1), state, pos[:, None])
    action = 3.0 * torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(3))
    out = simulator_dynamics(env, layout, REPEAT)(state, action)
    assert out.shape == (3, 5, 2)
    for b in range(3):
        one = layout.index(torch.tensor([b]))
        for s in range(5):
            ref = state[b, s].unsqueeze(0)
            for _ in range(REPEAT):
                ref = env.step(ref, action[b, s].unsqueeze(0), one)
            torch.testing.assert_close(out[b, s], ref[0])


def test_learned_dynamics_agrees_with_model_rollout():
    model = tiny_model()
    s0 = torch.randn(3, 16)
    actions = torch.randn(3, 5, 6, 2, generator=torch.Generator().manual_seed(0))  # (B, S, T, 2)
    dynamics = learned_dynamics(model, REPEAT)
    with torch.no_grad():
        states = rollout(s0, actions, dynamics)  # (B, S, T+1, D)
        macro = actions.repeat(1, 1, 1, REPEAT).reshape(15, 6, 2 * REPEAT)
        reference = model.rollout(s0.repeat_interleave(5, dim=0), macro).reshape(3, 5, 7, 16)
    assert states.shape == (3, 5, 7, 16)
    torch.testing.assert_close(states, reference)
    # The macro action is the held action k times: [dx, dy, dx, dy, ...].
    assert torch.equal(macro[0, 0], actions[0, 0, 0].repeat(REPEAT))


def test_learned_dynamics_clips_and_keeps_gradients():
    model = tiny_model()
    state = torch.randn(2, 3, 16)
    big = torch.tensor([3.0, 4.0]).expand(2, 3, 2)  # norm 5
    clipped = learned_dynamics(model, REPEAT, max_action_norm=2.5)(state, big)
    plain = learned_dynamics(model, REPEAT)(state, big * 0.5)
    torch.testing.assert_close(clipped, plain)
    actions = torch.randn(2, 3, 2, requires_grad=True)
    learned_dynamics(model, REPEAT)(state, actions).square().sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="macro actions"):
        learned_dynamics(model, 3)


# ------------------------------------------------------------------------------------ MPC


class RecordingPlanner:
    """Returns a fixed plan and remembers the ``init`` it was given."""

    def __init__(self) -> None:
        self.inits: list = []

    def plan(self, s0, dynamics, cost, horizon, init=None, generator=None) -> PlanResult:
        self.inits.append(init)
        steps = torch.arange(horizon, dtype=torch.float32).view(1, horizon, 1)
        actions = steps.expand(s0.shape[0], horizon, 2)
        return PlanResult(actions.clone(), torch.zeros(s0.shape[0]), {}, warm_start=actions + 100.0)


def test_mpc_warm_starts_and_resets():
    planner = RecordingPlanner()
    mpc = ModelPredictiveController(planner, 5, REPEAT, torch.Generator())
    mpc.reset(3)
    action, result = mpc.act(torch.zeros(3, 2), None, None)
    assert planner.inits[0] is None
    torch.testing.assert_close(action, torch.zeros(3, 2))  # first action of the plan
    mpc.act(torch.zeros(3, 2), None, None)
    torch.testing.assert_close(planner.inits[1], result.warm_start)
    mpc.forget(torch.tensor([False, True, False]))
    mpc.act(torch.zeros(3, 2), None, None)
    assert planner.inits[2][1].abs().sum() == 0 and planner.inits[2][0].abs().sum() > 0
    mpc.reset(3)
    mpc.act(torch.zeros(3, 2), None, None)
    assert planner.inits[3] is None
    with pytest.raises(ValueError, match="episodes"):
        mpc.act(torch.zeros(4, 2), None, None)


def test_mpc_replan_every_follows_the_plan_in_between():
    planner = RecordingPlanner()  # plan: action t = (t, t); warm start = plan + 100
    mpc = ModelPredictiveController(planner, 5, REPEAT, torch.Generator(), replan_every=3)
    mpc.reset(2)
    actions = [mpc.act(torch.zeros(2, 2), None, None) for _ in range(4)]
    assert len(planner.inits) == 2  # planned at decisions 0 and 3 only
    for t in range(3):
        torch.testing.assert_close(actions[t][0], torch.full((2, 2), float(t)))  # the plan's t-th action
    followed = actions[1][1]
    assert followed.info["replanned"] is False and followed.actions.shape == (2, 5, 2)
    torch.testing.assert_close(followed.actions[0, :, 0], torch.tensor([1.0, 2.0, 3.0, 4.0, 4.0]))  # rest, padded
    # The warm start moved on with the followed decisions: the plan's mean shifted twice more.
    plan0 = actions[0][1]
    torch.testing.assert_close(planner.inits[1], shift_plan(shift_plan(plan0.warm_start, 1), 1))
    torch.testing.assert_close(actions[3][0], torch.zeros(2, 2))  # a new plan's first action
    # Subsets of the episodes follow their own rows of the plan; forget() plans again at once.
    mpc.reset(3)
    mpc.act(torch.zeros(3, 2), None, None)
    action, _ = mpc.act(torch.zeros(2, 2), None, None, rows=torch.tensor([0, 2]))
    torch.testing.assert_close(action, torch.ones(2, 2))
    mpc.forget(torch.tensor([True, False, False]))
    mpc.act(torch.zeros(3, 2), None, None)
    assert len(planner.inits) == 4


def test_mpc_replan_every_is_checked():
    with pytest.raises(ValueError, match="replan_every"):
        ModelPredictiveController(RecordingPlanner(), 5, REPEAT, torch.Generator(), replan_every=0)
    with pytest.raises(ValueError, match="horizon"):
        ModelPredictiveController(RecordingPlanner(), 5, REPEAT, torch.Generator(), replan_every=6)


# ------------------------------------------------------------------------------------ evaluation


def test_simulator_mpc_reaches_the_other_room(env, simulator_run):
    tasks, result = simulator_run
    assert int(result.success.sum()) >= 8
    ok = result.success
    assert (result.steps_to_success[ok] > 0).all() and (result.steps_to_success[~ok] == -1).all()
    assert (result.final_distance["distance"][ok] <= env.config.success_radius).all()
    # Each success is recorded at the first step within the radius.
    dist = (result.paths - tasks.goal[:, None]).norm(dim=-1)
    for e in ok.nonzero().flatten().tolist():
        first = int((dist[e] <= env.config.success_radius).nonzero()[0])
        assert first == int(result.steps_to_success[e])
    assert_in_free_space(env, tasks, result)
    # Planned paths of recorded episodes: one (H+1, 2) path per decision, starting where it was.
    assert len(result.planned_paths) == 2
    first_plan = result.planned_paths[0][0]
    assert first_plan.shape == (HORIZON + 1, 2)
    torch.testing.assert_close(first_plan[0], tasks.start[0])


def test_random_actions_mostly_fail_and_stay_free(env, random_run):
    tasks, result = random_run
    assert result.success_rate < 0.5
    assert_in_free_space(env, tasks, result)
    assert result.planned_paths == []


def test_planning_time_is_measured(env, simulator_run, random_run):
    _, result = simulator_run
    assert result.planning_seconds > 0 and result.decisions > 0
    expected = 1000.0 * result.planning_seconds / (result.decisions * REPEAT)
    assert result.planning_ms_per_step == pytest.approx(expected)
    assert result.planning_ms_per_step_per_episode == pytest.approx(expected / 10)
    summary = result.summary()
    assert all(v is None or isinstance(v, float) for v in summary.values())
    assert summary["success_rate"] == pytest.approx(result.success_rate)
    # Nobody succeeds early with random actions: a decision every REPEAT steps until the end.
    _, random_result = random_run
    if not random_result.success.all():
        assert random_result.decisions == MAX_STEPS // REPEAT


def test_evaluation_is_deterministic(env):
    tasks = sample_two_rooms_tasks(env, 3, 5)
    again = sample_two_rooms_tasks(env, 3, 5)
    torch.testing.assert_close(tasks.start, again.start)
    runs = [run_episodes(PositionWorld(env), simulator_controller(env, 7), tasks, 24) for _ in range(2)]
    torch.testing.assert_close(runs[0].paths, runs[1].paths)
    randoms = [
        run_episodes(PositionWorld(env), RandomController(random_moves(env.config.max_step, torch.Generator().manual_seed(1)),
                                                          REPEAT), tasks, 24)
        for _ in range(2)
    ]
    torch.testing.assert_close(randoms[0].paths, randoms[1].paths)
    assert not torch.equal(randoms[0].paths, runs[0].paths)


@pytest.mark.parametrize("planner_kind", ["mppi", "gradient"])
def test_learned_mpc_runs_end_to_end(env, planner_kind):
    model = tiny_model()
    m = env.config.max_step
    if planner_kind == "mppi":
        planner = MPPI(2, -m, m, samples=16, iterations=2, noise_std=1.5)
    else:
        planner = GradientPlanner(2, -m, m, iterations=2, lr=0.5, restarts=2)
    mpc = ModelPredictiveController(planner, 5, REPEAT, torch.Generator().manual_seed(0))
    base = IntrinsicCost(reduce_min=True)
    controller = LearnedMPC(env, model, mpc, base.with_goal, position_decoder=lambda s: s[..., :2])
    tasks = sample_two_rooms_tasks(env, 3, 1)
    result = run_episodes(PositionWorld(env), controller, tasks, 20, record=3)
    assert result.paths.shape == (3, 21, 2)
    assert result.decisions == 5
    assert_in_free_space(env, tasks, result)
    assert all(len(p) == 5 and p[0].shape == (6, 2) for p in result.planned_paths)
    assert all(p.grad is None for p in model.parameters())


# ------------------------------------------------------------------------------------ pictures


def test_episode_frames_shape_and_content(env, simulator_run):
    tasks, result = simulator_run
    frames = episode_frames(env, tasks, result, [0, 1], stride=REPEAT)
    ends = [int(s) if s >= 0 else MAX_STEPS for s in result.steps_to_success[:2]]
    t_count = len(range(0, max(ends) + 1, REPEAT)) + (max(ends) % REPEAT != 0)
    assert frames.shape == (2, t_count, 64, 64, 3) and frames.dtype.name == "uint8"
    # The agent (red) sits at the start position in the first frame.
    x, y = tasks.start[0].round().long().tolist()
    assert frames[0, 0, y, x, 0] > 150 and frames[0, 0, y, x, 1] < 120
    with pytest.raises(ValueError, match="out of range"):
        episode_frames(env, tasks, result, [10])


def test_plot_episode_paths_writes_png(env, simulator_run, tmp_path):
    tasks, result = simulator_run
    out = plot_episode_paths(env, tasks, result, [0, 1, 2], tmp_path / "nav.png")
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _Recorder:
    """Moves straight to the goal at full speed and records which episodes it was asked about."""

    action_repeat = 1

    def __init__(self, env: TwoRooms) -> None:
        self.env = env
        self.asked: list[list[int]] = []

    def reset(self, tasks: Tasks) -> None:
        self.goal = tasks.goal

    def act(self, obs, rows):
        self.asked.append(rows.tolist())
        return ControllerOutput(self.goal[rows] - obs[rows])


def test_finished_episodes_are_not_planned_for():
    env = TwoRooms()
    layout = env.sample_layout(3, torch.Generator().manual_seed(0))
    room0 = env.sample_in_room(layout, torch.zeros(3, dtype=torch.long), torch.Generator().manual_seed(1))
    # Goals in the start room at 1, 4 and 40 steps' reach (max_step 2.45): they finish at different times.
    offsets = torch.tensor([[0.0, 2.0], [0.0, 9.0], [0.0, 0.0]])
    start = room0.clone()
    start[:, 1] = 10.0
    goal = start + offsets
    goal[2, 1] = 50.0
    tasks = Tasks(start, goal, layout)
    recorder = _Recorder(env)
    within_one = PositionWorld(env, lambda t, pos: (pos - t.goal).norm(dim=-1) <= 1.0)
    result = run_episodes(within_one, recorder, tasks, max_steps=30)
    assert result.success.tolist() == [True, True, True]
    assert recorder.asked[0] == [0, 1, 2] and recorder.asked[-1] == [2]
    assert all(0 not in asked for asked in recorder.asked[1:])


def test_mpc_keeps_a_warm_start_per_episode_when_planning_a_subset():
    planner = MPPI(1, -1.0, 1.0, samples=16, iterations=1)
    mpc = ModelPredictiveController(planner, horizon=3, action_repeat=1, generator=torch.Generator().manual_seed(0))
    mpc.reset(4)
    dynamics = lambda s, a: s + a  # noqa: E731
    cost = IntrinsicCost(torch.full((4, 1), 2.0), reduce_min=True)
    mpc.act(torch.zeros(4, 1), dynamics, cost)
    before = mpc.warm_start.clone()
    rows = torch.tensor([1, 3])
    sub_cost = IntrinsicCost(torch.full((2, 1), -2.0), reduce_min=True)
    action, _ = mpc.act(torch.zeros(2, 1), dynamics, sub_cost, rows=rows)
    assert action.shape == (2, 1)
    torch.testing.assert_close(mpc.warm_start[[0, 2]], before[[0, 2]])  # untouched episodes
    assert not torch.equal(mpc.warm_start[[1, 3]], before[[1, 3]])
    with pytest.raises(ValueError, match="rows must be"):
        mpc.act(torch.zeros(2, 1), dynamics, sub_cost, rows=torch.tensor([0]))
