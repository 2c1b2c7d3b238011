"""VICReg and temporal objectives against hand-computed values."""

import math

import pytest
import torch

from hjepa.objectives.temporal import InverseDynamics, inverse_dynamics_loss, temporal_smoothness
from hjepa.objectives.vicreg import (
    VICRegLoss,
    covariance_loss,
    invariance_loss,
    variance_loss,
    vc_regularizer,
    vicreg_loss,
)

# z_a: column means (1, 1); centred rows (-1,-1), (0,1), (1,0)
#   unbiased var = (2/2, 2/2) = (1, 1); cov_01 = (1 + 0 + 0) / 2 = 0.5
Z_A = torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0]])
# z_b: column 0 constant (var 0), column 1 = 0, 1, 2 (var 1); cov_01 = 0
Z_B = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0]])


def test_invariance_by_hand():
    # differences (0,0), (1,1), (2,-1): squares sum to 7 over 6 elements
    assert invariance_loss(Z_A, Z_B).item() == pytest.approx(7 / 6)


def test_variance_by_hand():
    # z_a: std = sqrt(1 + 1e-4) > 1 in both dims -> hinge 0
    assert variance_loss(Z_A).item() == pytest.approx(0.0)
    # z_b: std_0 = sqrt(0 + 1e-4) = 0.01 -> 0.99; std_1 > 1 -> 0; mean over 2 dims
    assert variance_loss(Z_B).item() == pytest.approx(0.495, abs=1e-6)
    # column 0, 0.5, 1: unbiased var = (0.25 + 0 + 0.25) / 2 = 0.25, std 0.5 -> hinge 0.5
    z = torch.tensor([[0.0], [0.5], [1.0]])
    assert variance_loss(z, gamma=1.0, eps=0.0).item() == pytest.approx(0.5)
    assert variance_loss(z, gamma=2.0, eps=0.0).item() == pytest.approx(1.5)


def test_variance_zero_when_std_at_least_gamma():
    z = torch.tensor([[-3.0, 10.0], [3.0, -10.0], [0.0, 0.0]])  # stds 3 and 10
    assert variance_loss(z).item() == 0.0


def test_covariance_by_hand():
    # off-diagonal entries 0.5 and 0.5: (0.25 + 0.25) / D=2
    assert covariance_loss(Z_A).item() == pytest.approx(0.25)
    assert covariance_loss(Z_B).item() == pytest.approx(0.0)


def test_covariance_zero_for_diagonal_covariance():
    # centred; sum_n x_n * y_n = 0 -> covariance matrix is diagonal (2/3, 2/3)
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert covariance_loss(z).item() == pytest.approx(0.0, abs=1e-12)
    assert covariance_loss(z + 5.0).item() == pytest.approx(0.0, abs=1e-10)  # shift-invariant


def test_total_with_default_weights():
    out = vicreg_loss(Z_A, Z_B)
    inv, var, cov = 7 / 6, (0.0 + 0.495) / 2, 0.25 + 0.0
    assert out.invariance.item() == pytest.approx(inv)
    assert out.variance.item() == pytest.approx(var, abs=1e-6)
    assert out.covariance.item() == pytest.approx(cov)
    assert out.total.item() == pytest.approx(25 * inv + 25 * var + 1 * cov, abs=1e-5)
    assert out.total.item() == pytest.approx(35.6041667, abs=1e-4)
    module_out = VICRegLoss()(Z_A, Z_B)
    assert module_out.total.item() == pytest.approx(out.total.item())
    custom = vicreg_loss(Z_A, Z_B, inv_weight=1.0, var_weight=2.0, cov_weight=3.0)
    assert custom.total.item() == pytest.approx(inv + 2 * var + 3 * cov, abs=1e-5)


def test_vc_regularizer_and_leading_dims():
    assert vc_regularizer(Z_B, var_weight=25.0, cov_weight=1.0).item() == pytest.approx(25 * 0.495, abs=1e-5)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 5, 3, generator=g)
    flat = z.reshape(20, 3)
    assert vc_regularizer(z, 25.0, 1.0).item() == pytest.approx(vc_regularizer(flat, 25.0, 1.0).item())
    assert vicreg_loss(z, z * 0.5).total.item() == pytest.approx(vicreg_loss(flat, flat * 0.5).total.item())


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        invariance_loss(Z_A, Z_A[:2])
    with pytest.raises(ValueError):
        variance_loss(torch.zeros(1, 4))
    with pytest.raises(ValueError):
        covariance_loss(torch.zeros(4))


def test_gradient_flows():
    g = torch.Generator().manual_seed(1)
    z_a = (0.1 * torch.randn(16, 4, generator=g)).requires_grad_()
    z_b = (0.1 * torch.randn(16, 4, generator=g)).requires_grad_()
    vicreg_loss(z_a, z_b).total.backward()
    for z in (z_a, z_b):
        assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_temporal_smoothness_by_hand():
    states = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [1.0, 2.0]]])  # squared steps 5, 0
    assert temporal_smoothness(states).item() == pytest.approx(2.5)
    two = torch.cat([states, torch.tensor([[[0.0, 0.0], [0.0, 1.0], [0.0, 3.0]]])])  # 1, 4
    assert temporal_smoothness(two).item() == pytest.approx((5 + 0 + 1 + 4) / 4)
    with pytest.raises(ValueError):
        temporal_smoothness(torch.zeros(2, 1, 3))


def test_inverse_dynamics_learns_linear_relation():
    torch.manual_seed(0)  # module initialisation
    g = torch.Generator().manual_seed(0)
    b, t, d, a = 64, 5, 6, 2
    mix = torch.randn(d, a, generator=g)
    states = torch.randn(b, t + 1, d, generator=g)
    actions = (states[:, 1:] - states[:, :-1]) @ mix / math.sqrt(d)
    model = InverseDynamics(state_dim=d, action_dim=a, hidden=64)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = inverse_dynamics_loss(model, states, actions).item()
    for _ in range(300):
        loss = inverse_dynamics_loss(model, states, actions)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first
    with pytest.raises(ValueError):
        inverse_dynamics_loss(model, states, actions[:, :-1])
