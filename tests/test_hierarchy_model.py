"""Level 2 of the world model (shapes, a tiny training run whose loss falls, clear errors) and the
latent variable z (inference lowers the prediction energy, recovers a known z, and lets a predictor
represent an outcome the state does not determine)."""

import pytest
import torch

from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import RenderedFrames, WindowSampler
from hjepa.envs.maze import Maze, MazeConfig
from hjepa.envs.maze_walks import collect_maze_walks
from hjepa.envs.random_walk import RandomWalkPolicy
from hjepa.eval.world_diagnostics import high_level_diagnostics
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.hierarchy import HighLevelModel, kl_to_standard_normal
from hjepa.world.hierarchy_train import (
    HighLevelLossWeights,
    HighLevelTrainConfig,
    high_level_loss,
    train_high_level,
)
from hjepa.world.latent import LatentPredictor, infer_latent, sample_prior


def _high(latent_dim=0, k=2, low_state_dim=16, low_action_dim=4):
    return HighLevelModel(low_state_dim, 8, k, low_action_dim, latent_action_dim=2, latent_dim=latent_dim, hidden=32, layers=2)


def test_level_two_shapes():
    high = _high(latent_dim=3, k=4, low_action_dim=8)
    s2 = high.abstract(torch.randn(5, 7, 16))
    assert s2.shape == (5, 7, 8)
    mean, log_var = high.encode_actions(torch.randn(5, 6, 32))
    assert mean.shape == log_var.shape == (5, 6, 2)
    assert high.rollout(s2[:, 0], mean).shape == (5, 7, 8)
    assert high.rollout(s2[:, 0], mean, torch.randn(5, 3)).shape == (5, 7, 8)
    assert high.step(s2[:, 0], mean[:, 0]).shape == (5, 8)  # z = None means z = 0
    assert torch.allclose(high.step(s2[:, 0], mean[:, 0]), high.step(s2[:, 0], mean[:, 0], torch.zeros(5, 3)))
    kl = kl_to_standard_normal(torch.zeros(4, 2), torch.zeros(4, 2))
    assert torch.allclose(kl, torch.zeros(4))  # KL(N(0, 1) || N(0, 1)) = 0
    assert torch.allclose(kl_to_standard_normal(torch.ones(1, 2), torch.zeros(1, 2)), torch.tensor([1.0]))
    assert HighLevelModel(**high.config()).config() == high.config()


def test_bad_configurations_give_clear_errors():
    with pytest.raises(ValueError, match="macro_steps"):
        _high(k=0)
    high = _high(latent_dim=2)
    with pytest.raises(ValueError, match="level-1 state has 12 dims but level 2 was built for 16"):
        high.abstract(torch.randn(3, 12))
    with pytest.raises(ValueError, match="action sequences"):
        high.encode_actions(torch.randn(3, 5))  # k * A1 = 8
    with pytest.raises(ValueError, match="action has 3 dims"):
        high.step(torch.randn(3, 8), torch.randn(3, 3))
    with pytest.raises(ValueError, match="z has 4 dims"):
        high.step(torch.randn(3, 8), torch.randn(3, 2), torch.randn(3, 4))
    with pytest.raises(ValueError, match="no latent variable"):
        _high(latent_dim=0).step(torch.randn(3, 8), torch.randn(3, 2), torch.randn(3, 1))
    with pytest.raises(ValueError, match="must be >= 1"):
        HighLevelTrainConfig(window=0)


def _maze_data(episodes, steps, seed):
    env = Maze(MazeConfig())
    walker = RandomWalkPolicy(kappa=5.0, max_step=1.5, resample_on_block=0.0)
    return env, Trajectories.from_arrays(collect_maze_walks(env, walker, episodes, steps, seed))


def test_tiny_level_two_training_run_lowers_its_loss(tmp_path):
    torch.manual_seed(0)
    env, data = _maze_data(24, 64, 0)
    low, _ = build_world_model(WorldModelConfig(architecture="vector", obs_size=64, obs_pool=4, channels=(8,),
                                                state_dim=16, predictor_hidden=32, frameskip=2))
    high = _high(k=2, low_state_dim=16, low_action_dim=4)
    sampler = WindowSampler(data, RenderedFrames(env, data, 4), 3, 4)  # 4 env steps = k * frameskip
    config = HighLevelTrainConfig(steps=80, batch_size=32, window=3, warmup_steps=5, lr=3e-3)
    weights = HighLevelLossWeights()
    fixed = sampler.sample(64, torch.Generator().manual_seed(5))
    with torch.no_grad():  # give the untrained level-1 states the unit spread a trained model's have
        spread = low.encode(fixed.obs).reshape(-1, 16).std(0).mean()
        low.encoder.head.weight.div_(spread)
        low.encoder.head.bias.div_(spread)
        low_states = low.encode(fixed.obs)

    def loss_now():
        with torch.no_grad():
            total, terms, _ = high_level_loss(high, low_states, fixed.actions, weights, config, torch.Generator().manual_seed(1))
            spread = high.abstract(low_states).reshape(-1, 8).var(0).mean()
        return float(total), float(terms["prediction"] / spread)  # prediction error relative to the states' spread

    before, prediction_before = loss_now()
    result = train_high_level(high, low, sampler, weights, config, torch.Generator().manual_seed(2),
                              diagnose=lambda model, g: high_level_diagnostics(model, low, sampler, 32, g),
                              show_progress=False)
    after, prediction_after = loss_now()
    assert after < 0.5 * before and prediction_after < 0.75 * prediction_before
    assert set(result.diagnostics) >= {"l2_pred_error_t1", "l2_probe_rmse_px", "l2_kl_nats"}
    with pytest.raises(ValueError, match="action numbers per level-2 step"):
        train_high_level(high, low, WindowSampler(data, RenderedFrames(env, data, 4), 3, 2), weights, config,
                         torch.Generator(), show_progress=False)


def test_z_inference_lowers_the_energy_and_recovers_a_known_z():
    torch.manual_seed(0)
    predictor = LatentPredictor(state_dim=6, action_dim=2, latent_dim=2, hidden=32, layers=2)
    s, a = torch.randn(64, 6), torch.randn(64, 2)
    z_true = torch.randn(64, 2)
    with torch.no_grad():
        target = predictor(s, a, z_true)

    def energy(z):
        return (predictor(s, a, z) - target).pow(2).sum(-1)

    z, history = infer_latent(energy, 64, 2, steps=60, lr=0.1, penalty=0.0)
    assert history.shape == (61, 64)
    assert (history[-1] <= history[0] + 1e-6).all()  # never worse than z = 0 ...
    with torch.no_grad():
        assert float(energy(z).mean()) < 0.05 * float(energy(torch.zeros(64, 2)).mean())  # ... and much better
    assert all(p.grad is None for p in predictor.parameters())  # only z was differentiated
    # A strong penalty keeps z near 0 (it limits what z can carry).
    z_small, _ = infer_latent(energy, 64, 2, steps=60, lr=0.1, penalty=100.0)
    assert float(z_small.norm(dim=-1).mean()) < 0.2 * float(z.norm(dim=-1).mean())
    draws = sample_prior(500, torch.tensor([1.0, 0.1]), torch.Generator().manual_seed(0))
    assert draws.shape == (500, 2) and torch.equal(draws[0], torch.zeros(2))
    assert 0.8 < float(draws[:, 0].std()) < 1.2 and 0.08 < float(draws[:, 1].std()) < 0.12


def test_latent_variable_represents_an_outcome_the_state_does_not_determine():
    """s' = s + a when a hidden door is open, s' = s when closed (50/50): a deterministic
    predictor can only predict the average; with inferred z the energy of both outcomes is low."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    models = {dim: LatentPredictor(2, 2, dim, hidden=32, layers=2) for dim in (0, 1)}
    opts = {dim: torch.optim.Adam(m.parameters(), lr=3e-3) for dim, m in models.items()}
    for _ in range(250):
        s, a = torch.randn(128, 2, generator=g), torch.randn(128, 2, generator=g)
        door = (torch.rand(128, 1, generator=g) < 0.5).float()
        target = s + door * a
        for dim, model in models.items():
            z = None
            if dim:
                z, _ = infer_latent(lambda zz: (model(s, a, zz) - target).pow(2).sum(-1), 128, dim, steps=8, lr=0.3, penalty=0.01)
            loss = (model(s, a, z) - target).pow(2).sum(-1).mean()
            opts[dim].zero_grad()
            loss.backward()
            opts[dim].step()
    s, a = torch.randn(256, 2, generator=g), torch.randn(256, 2, generator=g)
    door = (torch.rand(256, 1, generator=g) < 0.5).float()
    target = s + door * a
    with torch.no_grad():
        flat_energy = float((models[0](s, a) - target).pow(2).sum(-1).mean())
    z, _ = infer_latent(lambda zz: (models[1](s, a, zz) - target).pow(2).sum(-1), 256, 1, steps=30, lr=0.2, penalty=0.01)
    with torch.no_grad():
        latent_energy = float((models[1](s, a, z) - target).pow(2).sum(-1).mean())
    # The deterministic model's error is about a quarter of |a|^2 (it predicts s + a / 2).
    assert flat_energy > 0.35
    assert latent_energy < 0.3 * flat_energy
    # Draws from the prior reproduce both outcomes, open and closed, for the same (s, a).
    draws = sample_prior(32, z.std(0), torch.Generator().manual_seed(1))  # (32, 1)
    with torch.no_grad():
        outcomes = models[1](s.unsqueeze(0).expand(32, -1, -1), a.unsqueeze(0).expand(32, -1, -1),
                             draws.unsqueeze(1).expand(32, 256, 1))  # (32, 256, 2)
    for truth in (s, s + a):
        nearest = (outcomes - truth).pow(2).sum(-1).min(0).values  # (256,)
        assert float(nearest.mean()) < 0.3 * flat_energy
