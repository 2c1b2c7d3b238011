"""Bad option values found by the CLI fuzz test (tests/test_cli_fuzz.py): each is refused with one
line naming it and exit code 2, before any run directory or dataset is written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hjepa.cli import main
from hjepa.envs.two_rooms import TwoRoomsConfig
from hjepa.errors import MAX_SEED, InputError, check_seed
from hjepa.recipes import collect
from hjepa.recipes.agent_config import AgentRunJob, CriticOptions, PolicyOptions
from hjepa.recipes.collect import collect_walks
from hjepa.recipes.maze_config import MazeDataConfig, MazeEvalConfig
from hjepa.recipes.run_options import RunOptions
from hjepa.recipes.two_rooms_config import DataConfig, EvalConfig, PracticeConfig, TwoRoomsJob, make_env
from hjepa.ssl.config import SSLTrainConfig
from hjepa.world.build import VECTOR_WORLD_MODEL, WorldModelConfig
from hjepa.world.hierarchy_train import HighLevelTrainConfig
from hjepa.world.train import TrainConfig


def cli(argv: list, capsys) -> tuple[int, str]:
    """Exit code and stderr of ``hjepa <argv>``."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def assert_refused(code: int, err: str, *needles: str) -> None:
    """Exit 2 without a traceback, the message naming the problem (a check in a config's __post_init__
    is reported by tyro while parsing, one in the run by ``hjepa: error:``)."""
    assert code == 2, err
    assert "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # tyro's error box: keep each message on one line


# ------------------------------------------------------------------------------------ seeds
BAD_SEEDS = [2**64, 2**64 + 5, -1, -(2**63) - 1, MAX_SEED]


@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_seed_range_in_every_config(seed):
    for make in (lambda: RunOptions(seed=seed), lambda: EvalConfig(seed=seed), lambda: MazeEvalConfig(seed=seed),
                 lambda: SSLTrainConfig(seed=seed), lambda: AgentRunJob(checkpoint=Path("x"), eval_seed=seed)):
        with pytest.raises(InputError, match=r"seed must be an integer in \[0, 2\*\*53\)"):
            make()
    check_seed("seed", MAX_SEED - 1)  # the largest one is fine
    RunOptions(seed=0)


@pytest.mark.parametrize("argv, needle", [
    (["collect", "--out", "<tmp>/data", "--data.episodes", "2", "--data.steps", "8", "--data.heldout-episodes", "1",
      "--seed", str(2**64)], "seed"),
    (["two-rooms", "--runs-root", "<tmp>", "--name", "x", "--seed", str(2**64)], "seed"),
    (["maze", "--runs-root", "<tmp>", "--name", "x", "--seed", str(2**64)], "seed"),
    (["agent", "train", "--checkpoint", "<tmp>/w.pt", "--runs-root", "<tmp>", "--name", "x", "--seed", "-1"], "seed"),
    (["agent", "run", "--checkpoint", "<tmp>/w.pt", "--runs-root", "<tmp>", "--name", "x", "--eval-seed",
      str(2**64)], "eval_seed"),
    (["ssl", "train", "--runs-root", "<tmp>", "--name", "x", "--seed", str(2**64)], "seed"),
    (["evaluate", "--checkpoint", "<tmp>/w.pt", "--runs-root", "<tmp>", "--name", "x", "--eval.seed", "-5"], "eval.seed"),
])
def test_seed_out_of_range_is_refused_before_writing(argv, needle, tmp_path, capsys):
    """(Each of these fails fast without the check: a crash or another error at the start of the run.)"""
    code, err = cli([a.replace("<tmp>", str(tmp_path)) for a in argv], capsys)
    assert_refused(code, err, f"{needle} must be an integer in [0, 2**53)")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ agent options
@pytest.mark.parametrize("options, field, value", [
    (CriticOptions, "hidden", 0), (CriticOptions, "hidden", -3), (CriticOptions, "lr", 0.0),
    (CriticOptions, "lr", float("nan")), (CriticOptions, "lr", float("inf")), (CriticOptions, "lr", -1e-3),
    (CriticOptions, "layers", 0), (CriticOptions, "steps", 0), (CriticOptions, "batch_size", 0),
    (CriticOptions, "members", 0), (CriticOptions, "rounds", -1), (CriticOptions, "round_episodes", 0),
    (CriticOptions, "round_horizon", 0), (CriticOptions, "hindsight", 1.5), (CriticOptions, "imagined", float("nan")),
    (CriticOptions, "anchor", -0.1), (CriticOptions, "imagined_steps", 0),
    (PolicyOptions, "hidden", 0), (PolicyOptions, "lr", 0.0), (PolicyOptions, "lr", float("nan")),
    (PolicyOptions, "layers", 0), (PolicyOptions, "fit_steps", 0), (PolicyOptions, "batch_size", -1),
    (PolicyOptions, "rounds", -1), (PolicyOptions, "round_episodes", 0), (PolicyOptions, "teacher_horizon", 0),
    (PolicyOptions, "teacher_iterations", -2),
])
def test_agent_options_are_checked(options, field, value):
    prefix = "critic" if options is CriticOptions else "policy"
    with pytest.raises(InputError, match=rf"{prefix}\.{field}"):
        options(**{field: value})


def test_agent_options_defaults_and_edges_are_fine():
    CriticOptions(), PolicyOptions()
    CriticOptions(rounds=0, imagined=0.0, imagined_steps=0, hindsight=1.0), PolicyOptions(rounds=0, teacher_horizon=None)


def test_agent_train_bad_hidden_is_refused_before_writing(tmp_path, capsys):
    code, err = cli(["agent", "train", "--checkpoint", tmp_path / "w.pt", "--runs-root", tmp_path, "--name", "x",
                     "--critic.hidden", "0"], capsys)
    assert_refused(code, err, "critic.hidden must be >= 1")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ world model sizes
@pytest.mark.parametrize("field, value, needle", [
    ("obs_pool", 0, "obs_pool must be >= 1"), ("obs_pool", -2, "obs_pool must be >= 1"),
    ("channels", (0,), "channels must be one or more conv widths"), ("channels", (8, -1), "channels"),
    ("channels", (), "channels"), ("spatial_channels", 0, "spatial_channels must be >= 1"),
    ("obs_channels", 0, "obs_channels must be >= 1"), ("action_dim", 0, "action_dim must be >= 1"),
    ("action_dim", -1, "action_dim"), ("obs_size", 0, "obs_size must be >= 1"), ("obs_pool", 3, "must divide obs_size"),
])
def test_world_model_sizes_are_checked(field, value, needle):
    with pytest.raises(InputError, match=re.escape(needle)):
        WorldModelConfig(**{field: value})
    WorldModelConfig(), VECTOR_WORLD_MODEL  # the defaults are fine


def test_obs_pool_zero_is_refused_by_the_cli(tmp_path, capsys):
    code, err = cli(["two-rooms", "--runs-root", tmp_path, "--name", "x", "--model.obs-pool", "0"], capsys)
    assert_refused(code, err, "obs_pool must be >= 1")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ optimisation
@pytest.mark.parametrize("config, prefix", [(TrainConfig, "train"), (HighLevelTrainConfig, "level2_train")])
@pytest.mark.parametrize("field, value", [
    ("weight_decay", -1e-4), ("weight_decay", float("nan")), ("weight_decay", float("inf")),
    ("lr", 0.0), ("lr", -1.0), ("lr", float("nan")), ("lr", float("inf")), ("warmup_steps", -1),
])
def test_optimiser_settings_are_checked(config, prefix, field, value):
    with pytest.raises(InputError, match=rf"{prefix}\.{field}"):
        config(**{field: value})
    config(weight_decay=0.0, warmup_steps=0)


@pytest.mark.parametrize("make, needle", [
    (lambda: TrainConfig(grad_clip=float("nan")), "train.grad_clip"), (lambda: TrainConfig(grad_clip=-1.0), "train.grad_clip"),
    (lambda: HighLevelTrainConfig(z_lr=float("inf")), "level2_train.z_lr"),
    (lambda: HighLevelTrainConfig(z_penalty=float("nan")), "level2_train.z_penalty"),
    (lambda: PracticeConfig(lr=float("inf")), "practice.lr"),
    (lambda: SSLTrainConfig(weight_decay=float("inf")), "weight_decay"),
])
def test_other_optimiser_settings_are_checked(make, needle):
    with pytest.raises(InputError, match=re.escape(needle)):
        make()


@pytest.mark.parametrize("argv", [
    ["two-rooms", "--train.weight-decay", "-1"],
    ["maze", "--level2-train.weight-decay", "-1"],
    ["gym", "--env", "pendulum", "--train.weight-decay", "-1"],
])
def test_negative_weight_decay_is_refused_by_the_cli(argv, tmp_path, capsys):
    # The runs root is a file: a run that got past the options would stop there at once, with another message.
    (tmp_path / "root.txt").write_text("not a directory")
    code, err = cli([*argv, "--runs-root", tmp_path / "root.txt", "--name", "x"], capsys)
    assert_refused(code, err, "weight_decay must be a finite number >= 0")


# ------------------------------------------------------------------------------------ random-walk data
@pytest.mark.parametrize("config", [DataConfig, MazeDataConfig])
@pytest.mark.parametrize("field, value", [
    ("kappa", float("nan")), ("kappa", float("inf")), ("kappa", -1.0), ("step_std", -0.1), ("step_std", float("nan")),
    ("step_mean", float("inf")), ("step_mean", -1.0), ("resample_on_block", 1.5), ("resample_on_block", float("nan")),
])
def test_walk_settings_are_checked(config, field, value):
    with pytest.raises(InputError, match=rf"data\.{field}"):
        config(**{field: value})
    config(kappa=0.0), config(kappa=1e300)  # huge is fine: the sampler draws the normal limit


# ------------------------------------------------------------------------------------ held-out bands
@pytest.mark.parametrize("make, needle", [
    (lambda: DataConfig(door_band=(float("nan"), 20.0)), "data.door_band (nan, 20.0) must be two finite numbers"),
    (lambda: DataConfig(door_band=(20.0, float("inf"))), "data.door_band"),
    (lambda: DataConfig(door_band=(30.0, 20.0)), "low < high"),
    (lambda: DataConfig(door_band=(20.0, 20.0)), "low < high"),
    (lambda: DataConfig(wall_band=(30, 20)), "data.wall_band (30, 20) is empty"),
    (lambda: EvalConfig(door_band=(float("nan"), float("nan"))), "eval.door_band"),
    (lambda: EvalConfig(wall_band=(5, 4)), "eval.wall_band (5, 4) is empty"),
    # against the environment's ranges: door_y_range (14, 49), wall_x_range (20, 41)
    (lambda: TwoRoomsJob(data=DataConfig(door_band=(14.0, 48.999))), "leaves 0.0% of env.door_y_range (14.0, 49.0)"),
    (lambda: TwoRoomsJob(data=DataConfig(door_band=(0.0, 200.0))), "leaves 0.0%"),
    (lambda: TwoRoomsJob(data=DataConfig(door_band=(0.0, 5.0))), "lies outside env.door_y_range"),
    (lambda: TwoRoomsJob(data=DataConfig(wall_band=(0, 10))), "lies outside env.wall_x_range"),
    (lambda: TwoRoomsJob(data=DataConfig(wall_band=(10, 50))), "leaves no wall position"),
    (lambda: TwoRoomsJob(layout="fixed", data=DataConfig(door_band=(30.0, 33.0))), "holds out the fixed layout's door"),
    (lambda: TwoRoomsJob(layout="fixed", data=DataConfig(wall_band=(30, 30))), "holds out the fixed layout's wall"),
    (lambda: TwoRoomsJob(eval=EvalConfig(door_band=(10.0, 20.0))), "eval.door_band (10.0, 20.0) must lie inside"),
    (lambda: TwoRoomsJob(eval=EvalConfig(wall_band=(40, 2**40))), "eval.wall_band"),
    (lambda: TwoRoomsConfig(door_y_range=(float("nan"), 40.0)), "door_y_range"),
])
def test_bands_are_checked(make, needle):
    with pytest.raises(InputError, match=re.escape(needle)):
        make()


def test_usable_bands_are_fine():
    TwoRoomsJob(data=DataConfig(door_band=(14.0, 45.5), wall_band=(20, 40)), eval=EvalConfig(door_band=(14.0, 20.0)))
    TwoRoomsJob(data=DataConfig(door_band=(40.0, 100.0)))  # reaching past the range is fine
    TwoRoomsJob(layout="fixed", data=DataConfig(door_band=(14.0, 20.0), wall_band=(35, 41)))
    TwoRoomsJob(eval=EvalConfig(door_band=(30.0, 30.0)))  # one door height


@pytest.mark.parametrize("band", [["nan", "20"], ["14", "48.999"], ["30", "20"]])
def test_collect_refuses_a_bad_door_band_before_writing(band, tmp_path, capsys):
    code, err = cli(["collect", "--out", tmp_path / "data", "--data.episodes", "4", "--data.steps", "8",
                     "--data.door-band", *band], capsys)
    assert_refused(code, err, "data.door_band")
    assert not (tmp_path / "data").exists()


def test_collect_never_returns_fewer_walks_than_asked(monkeypatch):
    """Seed 2 keeps none of its first draw (28 walks, 10% outside the band): it draws again."""
    data = DataConfig(episodes=1, steps=2, heldout_episodes=1, door_band=(14.0, 45.5))
    job = TwoRoomsJob(data=data)
    env = make_env(job)
    for seed in range(12):
        walks = collect_walks(job, env, seed, 1)
        assert len(walks) == 1 and not 14.0 <= float(walks.to_arrays()["door_y"][0]) <= 45.5
    monkeypatch.setattr(collect, "BAND_DRAWS", 1)  # no second draw: refused, naming the band
    with pytest.raises(InputError, match=re.escape("data.door_band (14.0, 45.5): only 0 of 28 walks")):
        collect_walks(job, env, 2, 1)
