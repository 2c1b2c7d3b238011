"""The spatial world model (feature-map state, convolutional predictor) and its cost head."""

from __future__ import annotations

import pytest
import torch

from hjepa.control.dynamics import learned_dynamics
from hjepa.nn.conv import SpatialConvEncoder
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.objective import WorldModelLossWeights, world_model_loss
from hjepa.world.predictor import ConvActionPredictor

SPATIAL = WorldModelConfig(
    architecture="spatial", obs_pool=4, channels=(8,), spatial_channels=4, predictor_hidden=8,
    predictor_layers=2, idm_hidden=16,
)


def test_spatial_encoder_keeps_a_grid():
    enc = SpatialConvEncoder(in_channels=2, input_size=32, channels=(8, 8), out_channels=4)
    assert enc.grid == (4, 8, 8) and enc.out_dim == 256
    assert enc(torch.zeros(3, 2, 32, 32)).shape == (3, 256)
    with pytest.raises(ValueError, match="SpatialConvEncoder expects"):
        enc(torch.zeros(3, 1, 32, 32))


def test_conv_predictor_is_translation_equivariant():
    """The same local rule everywhere: shifting the input map shifts the update (away from the
    zero-padded border)."""
    torch.manual_seed(0)
    pred = ConvActionPredictor((3, 16, 16), action_dim=2, hidden=8, layers=2).eval()
    fmap = torch.zeros(1, 3, 16, 16)
    fmap[0, :, 6, 6] = 1.0
    action = torch.tensor([[0.5, -1.0]])
    shifted = torch.roll(fmap, shifts=(2, 3), dims=(2, 3))
    with torch.no_grad():
        out = pred(fmap.flatten(1), action).reshape(1, 3, 16, 16)
        out_shifted = pred(shifted.flatten(1), action).reshape(1, 3, 16, 16)
    # two 3x3 layers see 2 cells: compare windows at least 3 cells from the zero-padded border
    a = (out - fmap)[..., 3:10, 3:10]
    b = (out_shifted - shifted)[..., 5:12, 6:13]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_conv_predictor_residual_and_shapes():
    pred = ConvActionPredictor((2, 4, 4), action_dim=3, hidden=4, layers=3)
    state, action = torch.randn(5, 7, 32), torch.randn(5, 7, 3)
    assert pred(state, action).shape == (5, 7, 32)
    with pytest.raises(ValueError, match="at least 2 layers"):
        ConvActionPredictor((2, 4, 4), 3, 4, 1)


def test_spatial_model_trains_every_part():
    torch.manual_seed(0)
    model, idm = build_world_model(SPATIAL)
    assert model.state_dim == 4 * 8 * 8
    obs = torch.rand(4, 3, 2, 64, 64)
    actions = torch.randn(4, 2, SPATIAL.macro_action_dim)
    loss, terms = world_model_loss(model, idm, obs, actions, WorldModelLossWeights())
    loss.backward()
    for name, part in (("encoder", model.encoder), ("predictor", model.predictor), ("inverse dynamics", idm)):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert any(g.abs().sum() > 0 for g in grads), name


def test_bf16_planning_dynamics_agree_with_fp32():
    torch.manual_seed(0)
    model, _ = build_world_model(SPATIAL)
    model.eval()
    fp32 = learned_dynamics(model, SPATIAL.frameskip)
    bf16 = learned_dynamics(model, SPATIAL.frameskip, bf16=True)
    state, action = torch.randn(2, 3, model.state_dim), torch.randn(2, 3, 2)
    with torch.no_grad():
        a, b = fp32(state, action), bf16(state, action)
    assert b.dtype == torch.float32
    assert (a - b).abs().max() < 0.05 * a.abs().max()


class _OracleModel(torch.nn.Module):
    """'Encodes' the agent's x position exactly and predicts moves with or without walls."""

    def __init__(self, env, layout_aware: bool) -> None:
        super().__init__()
        self.env, self.layout_aware = env, layout_aware
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.action_dim = 8

    def encode(self, obs):
        cols = torch.arange(obs.shape[-1], dtype=torch.float32)
        agent = obs[:, 0]
        x = (agent.sum(-2) * cols).sum(-1) / agent.sum((-1, -2))
        wall = obs[:, 1, 4:-4].amax(-2)  # (N, W) columns holding wall (border rows left out)
        wall[:, :4] = 0.0  # ignore the border walls
        wall[:, -4:] = 0.0
        return torch.stack([x, wall.argmax(-1).float() if self.layout_aware else torch.zeros_like(x)], -1)

    def rollout(self, s0, actions):
        x = s0[:, 0] + actions[..., 0::2].sum((-1, -2))
        if self.layout_aware:  # the wall's first column is stored in the state: stop before it
            x = torch.minimum(x, torch.maximum(s0[:, 0], s0[:, 1] - 1.0))
        return torch.stack([x, s0[:, 1]], -1).unsqueeze(1)


def test_wall_push_check_tells_a_wall_aware_model_from_a_leaky_one():
    from hjepa.envs.two_rooms import TwoRooms
    from hjepa.eval.wall_push import wall_push_check

    env = TwoRooms()
    leaky = wall_push_check(_OracleModel(env, False), env, episodes=32, generator=torch.Generator().manual_seed(0))
    aware = wall_push_check(_OracleModel(env, True), env, episodes=32, generator=torch.Generator().manual_seed(0))
    for result in (leaky, aware):
        assert result["open_true_px"] == pytest.approx(16.0, abs=0.01)
        assert result["open_pred_px"] == pytest.approx(16.0, abs=1.0)
        assert result["wall_true_px"] < 5.0
    assert leaky["wall_pred_px"] > 14.0
    assert aware["wall_pred_px"] < 6.0


def test_activation_choice_reaches_every_part_and_checkpoints_keep_it():
    """--model.activation relu puts ReLU (and no GELU) in the encoder, predictor and inverse-dynamics
    head; a config written before the option existed reads back as GELU."""
    model, idm = build_world_model(WorldModelConfig(**{**SPATIAL.to_dict(), "channels": (8,), "activation": "relu"}))
    for part in (model.encoder, model.predictor, idm):
        kinds = {type(m) for m in part.modules()}
        assert torch.nn.ReLU in kinds and torch.nn.GELU not in kinds
    old = {k: v for k, v in SPATIAL.to_dict().items() if k != "activation"}
    assert WorldModelConfig.from_dict(old).activation == "gelu"
    model, idm = build_world_model(WorldModelConfig.from_dict(old))
    assert all(torch.nn.ReLU not in {type(m) for m in p.modules()} for p in (model.encoder, model.predictor, idm))
    with pytest.raises(ValueError, match="activation"):
        WorldModelConfig(activation="tanh")
