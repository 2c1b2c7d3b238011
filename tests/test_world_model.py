"""The JEPA world model: shapes, objective terms, a tiny training run, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from hjepa.data.windows import RenderedFrames, WindowSampler
from hjepa.envs.two_rooms import TwoRooms
from hjepa.eval.world_diagnostics import HeldOutDiagnostics
from hjepa.recipes.collect import collect_walks
from hjepa.recipes.two_rooms_config import DataConfig, TwoRoomsJob
from hjepa.runs.metrics import read_metrics
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.checkpoint import checkpoint_state, load_world_checkpoint
from hjepa.world.objective import WorldModelLossWeights, world_model_loss
from hjepa.world.train import TrainConfig, train_world_model

TINY = WorldModelConfig(architecture="vector", obs_pool=2, channels=(8, 16), state_dim=16, predictor_hidden=32, predictor_layers=2, idm_hidden=32)
D, A = TINY.state_dim, TINY.macro_action_dim  # 16, 8
WINDOW = 4
TERMS = ("prediction", "variance", "covariance", "smoothness", "inverse_dynamics")


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)  # module initialisation
    return build_world_model(TINY)


@pytest.fixture(scope="module")
def samplers():
    env = TwoRooms()
    job = TwoRoomsJob(data=DataConfig(episodes=48, steps=40, doorway_start_fraction=0.5))
    def make(seed, n):
        data = collect_walks(job, env, seed, n)
        return WindowSampler(data, RenderedFrames(env, data, TINY.obs_pool), WINDOW, TINY.frameskip)

    return make(0, 48), make(1, 16)


@pytest.fixture(scope="module")
def trained(samplers, tmp_path_factory):
    """~60 steps of training of a tiny model, logged to a run directory."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the per-test fixture of conftest.py
    try:
        model, idm = tiny_model(0)
        run = RunDir.create(tmp_path_factory.mktemp("train"), "tiny")
        config = TrainConfig(steps=60, batch_size=16, window=WINDOW, lr=3e-3, warmup_steps=5,
                             log_every=5, eval_every=60, eval_windows=32)
        diagnose = HeldOutDiagnostics(samplers[1], config.eval_windows)
        result = train_world_model(model, idm, samplers[0], WorldModelLossWeights(), config,
                                   torch.Generator().manual_seed(0), diagnose=diagnose, run=run, show_progress=False)
        result.probe = diagnose.probe  # the fitted (x, y) probe, for the checkpoint tests
    finally:
        torch.set_num_threads(before)
    return model, idm, result, run


# ----------------------------------------------------------------------------------- shapes
def test_shapes_and_rollout_definition():
    model, idm = tiny_model()
    g = torch.Generator().manual_seed(0)
    obs = torch.rand(3, 2, 64, 64, generator=g)
    s = model.encode(obs)
    assert s.shape == (3, D)
    # Raw 64x64 frames are average-pooled by 2; already pooled frames are not pooled again.
    torch.testing.assert_close(model.encode(torch.nn.functional.avg_pool2d(obs, 2)), s)
    seq = torch.rand(3, 5, 2, 64, 64, generator=g)
    states = model.encode(seq)
    assert states.shape == (3, 5, D)
    torch.testing.assert_close(states[:, 2], model.encode(seq[:, 2]))
    actions = torch.randn(3, 6, A, generator=g)
    assert model.step(s, actions[:, 0]).shape == (3, D)
    traj = model.rollout(s, actions)
    assert traj.shape == (3, 7, D)
    torch.testing.assert_close(traj[:, 0], s)
    torch.testing.assert_close(traj[:, 2], model.step(model.step(s, actions[:, 0]), actions[:, 1]))
    assert idm(s, traj[:, 1]).shape == (3, A)


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (3, 2, 48, 48), (2, 64, 64), (1, 2, 3, 2, 64, 64)])
def test_wrong_observation_shape_names_it(shape):
    model, _ = tiny_model()
    with pytest.raises(ValueError, match=str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")):
        model.encode(torch.zeros(shape))


def test_wrong_action_shape():
    model, idm = tiny_model()
    with pytest.raises(ValueError, match="actions"):
        model.rollout(torch.zeros(3, D), torch.zeros(3, A))
    with pytest.raises(ValueError, match=r"\(2, 5, 2, 32, 32\)"):
        world_model_loss(model, idm, torch.zeros(2, 5, 2, 32, 32), torch.zeros(2, 5, A), WorldModelLossWeights())


# ----------------------------------------------------------------------------------- objective
def test_loss_terms_and_weights(samplers):
    model, idm = tiny_model()
    batch = samplers[0].sample(8, torch.Generator().manual_seed(0))
    weights = WorldModelLossWeights(prediction=1.5, variance=25.0, covariance=2.0, smoothness=0.5, inverse_dynamics=10.0)
    total, terms = world_model_loss(model, idm, batch.obs, batch.actions, weights)
    assert set(terms) == set(TERMS)
    assert all(math.isfinite(float(v)) and float(v) >= 0 for v in terms.values())
    assert total.requires_grad and not any(v.requires_grad for v in terms.values())
    reference = sum(getattr(weights, k) * terms[k] for k in TERMS)
    torch.testing.assert_close(total.detach(), reference)
    for name in TERMS:
        off = WorldModelLossWeights(**{**vars(weights), name: 0.0})
        total_off, terms_off = world_model_loss(model, idm, batch.obs, batch.actions, off)
        torch.testing.assert_close(terms_off[name], terms[name])  # the term is still reported
        torch.testing.assert_close(total.detach() - total_off.detach(), getattr(weights, name) * terms[name])
    # Without an inverse-dynamics head the term is absent.
    total_no_idm, terms_no_idm = world_model_loss(model, None, batch.obs, batch.actions, weights)
    assert set(terms_no_idm) == set(TERMS) - {"inverse_dynamics"}
    torch.testing.assert_close(total_no_idm.detach(), reference - weights.inverse_dynamics * terms["inverse_dynamics"])
    with pytest.raises(ValueError, match="variance"):
        WorldModelLossWeights(variance=-1.0)


# ----------------------------------------------------------------------------------- training
def test_training_lowers_the_loss(trained):
    model, _, result, run = trained
    records = [r for r in read_metrics(run.path("metrics.jsonl")) if "loss/total" in r]
    assert [r["step"] for r in records] == list(range(0, 60, 5)) + [59]
    first, last = records[0], records[-1]
    assert all(math.isfinite(r["loss/total"]) for r in records)
    assert last["loss/total"] < 0.7 * first["loss/total"], (first, last)
    # The regulariser keeps the states spread out (no collapse) while the loss falls.
    assert result.diagnostics["std_mean"] > 0.1 and result.steps == 60
    assert any("eval/probe_rmse_px" in r for r in read_metrics(run.path("metrics.jsonl")))


class NaNSampler(WindowSampler):
    """Windows whose first observation holds a NaN pixel."""

    def sample(self, batch, generator=None):
        windows = super().sample(batch, generator)
        windows.obs[0, 0, 0, 5, 5] = float("nan")
        return windows


def test_nan_in_observations_stops_training(samplers):
    train, heldout = samplers
    bad = NaNSampler(train.dataset, train.frames, WINDOW, TINY.frameskip)
    model, idm = tiny_model()
    config = TrainConfig(steps=3, batch_size=4, window=WINDOW, eval_windows=8)
    with pytest.raises(FloatingPointError, match="step 0.*NaN or inf in its observations"):
        train_world_model(model, idm, bad, WorldModelLossWeights(), config, torch.Generator().manual_seed(0),
                          diagnose=HeldOutDiagnostics(heldout, 8), show_progress=False)


# ----------------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(trained, samplers, tmp_path):
    model, idm, result, _ = trained
    run = RunDir.create(tmp_path, "ckpt")
    path = run.save_checkpoint("world_model", checkpoint_state("two-rooms", model, TINY, idm, result.probe))
    raw = torch.load(path, weights_only=True)
    assert (raw["format"], raw["version"], raw["kind"]) == ("hjepa.world_model", 2, "two-rooms")
    assert raw["model_config"]["channels"] == [8, 16]
    stored = load_world_checkpoint(path, "two-rooms")
    loaded, probe, config = stored.model, stored.probe, stored.config
    assert config == TINY and not loaded.training
    obs = samplers[1].sample(6, torch.Generator().manual_seed(3)).obs
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(obs), model.encode(obs), rtol=0, atol=0)
        s = model.encode(obs[:, 0])
        torch.testing.assert_close(probe.predict(s), result.probe.predict(s), rtol=0, atol=0)


def test_corrupt_and_foreign_checkpoints(trained, tmp_path):
    model, idm, result, _ = trained
    run = RunDir.create(tmp_path, "bad")
    good = run.save_checkpoint("world_model", checkpoint_state("two-rooms", model, TINY, idm, result.probe))
    truncated = run.path("checkpoints/truncated.pt")
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.pt"):
        load_world_checkpoint(truncated, "two-rooms")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_world_checkpoint(run.path("checkpoints/missing.pt"), "two-rooms")
    other = run.save_checkpoint("other", {"format": "something/else", "model": {}})
    with pytest.raises(ValueError, match="not a world-model checkpoint"):
        load_world_checkpoint(other, "two-rooms")
    no_config = run.save_checkpoint("no_config", {"format": "hjepa.two_rooms.world_model/1", "model": {}})
    with pytest.raises(ValueError, match="lacks the model or its architecture"):
        load_world_checkpoint(no_config, "two-rooms")
    with pytest.raises(ValueError, match="holds a two-rooms world model, expected gym"):
        load_world_checkpoint(good, "gym")
    raw = torch.load(good, weights_only=True)
    raw["model_config"]["state_dim"] = 8  # weights no longer fit the architecture
    mismatched = run.save_checkpoint("mismatched", raw)
    with pytest.raises(ValueError, match="do not match"):
        load_world_checkpoint(mismatched, "two-rooms")
    version_one = {k: v for k, v in torch.load(good, weights_only=True).items() if k not in ("version", "kind", "extra")}
    version_one["format"] = "hjepa.two_rooms.world_model/1"  # written before the one format: still loads
    old = load_world_checkpoint(run.save_checkpoint("old", version_one), "two-rooms")
    assert old.config == TINY and old.probe is not None
