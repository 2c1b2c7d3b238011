"""Self-supervised objectives against loop-by-loop hand computations, known properties, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import hjepa.objectives as objectives
from hjepa.nn.ema import EMATarget
from hjepa.objectives import (
    BarlowTwinsLoss,
    InfoNCELoss,
    LeJEPALoss,
    SIGRegLoss,
    VICRegLoss,
    barlow_twins_loss,
    byol_loss,
    cosine_momentum,
    info_nce_loss,
    lejepa_loss,
    sigreg_loss,
    simsiam_loss,
    variance_loss,
    vicreg_loss,
)

F64 = torch.float64
A_ROWS = [[1.0, 2.0, 0.5], [3.0, 0.0, -1.0], [2.0, 5.0, 1.0], [0.0, 1.0, 2.5]]
B_ROWS = [[0.0, 1.0, 1.0], [1.0, 1.0, -2.0], [4.0, 0.0, 0.0], [2.0, 2.0, 3.0]]
Z_A = torch.tensor(A_ROWS, dtype=F64)
Z_B = torch.tensor(B_ROWS, dtype=F64)


# ---------------------------------------------------------------------------------- helpers
def _col(rows, j):
    return [row[j] for row in rows]


def _norm(v):
    s = math.sqrt(sum(x * x for x in v))
    return [x / s for x in v]


def _dot(u, v):
    return sum(x * y for x, y in zip(u, v))


# ---------------------------------------------------------------------------------- public API
def test_public_api_is_explicit():
    for name in objectives.__all__:
        assert hasattr(objectives, name), name
    for name in ("vicreg_loss", "vc_regularizer", "barlow_twins_loss", "info_nce_loss", "byol_loss",
                 "simsiam_loss", "cosine_momentum", "sigreg_loss", "lejepa_loss", "gather_batch",
                 "temporal_smoothness", "InverseDynamics", "inverse_dynamics_loss"):
        assert name in objectives.__all__


# ---------------------------------------------------------------------------------- VICReg
def test_vicreg_variance_zero_when_every_std_at_least_one():
    z = torch.tensor([[-2.0, 0.0], [2.0, 3.0], [0.0, -3.0]])  # stds 2 and 3
    assert variance_loss(z).item() == 0.0
    assert vicreg_loss(z, z).variance.item() == 0.0
    assert VICRegLoss()(z, z).invariance.item() == 0.0


def test_vicreg_batch_of_one_raises():
    with pytest.raises(ValueError, match="at least 2 embeddings"):
        vicreg_loss(torch.zeros(1, 3), torch.zeros(1, 3))


# ---------------------------------------------------------------------------------- Barlow Twins
def _barlow_by_hand(a_rows, b_rows, lambd, eps=1e-5):
    n, d = len(a_rows), len(a_rows[0])

    def standardise(rows):
        cols = []
        for j in range(d):
            c = _col(rows, j)
            mean = sum(c) / n
            var = sum((x - mean) ** 2 for x in c) / n  # biased
            cols.append([(x - mean) / math.sqrt(var + eps) for x in c])
        return cols  # cols[j][n]

    ca, cb = standardise(a_rows), standardise(b_rows)
    on = off = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(ca[i][k] * cb[j][k] for k in range(n)) / n
            if i == j:
                on += (1 - c_ij) ** 2
            else:
                off += c_ij**2
    return on, off, on + lambd * off


def test_barlow_by_hand():
    on, off, total = _barlow_by_hand(A_ROWS, B_ROWS, lambd=0.3)
    out = barlow_twins_loss(Z_A, Z_B, lambd=0.3)
    assert out.on_diagonal.item() == pytest.approx(on, rel=1e-12)
    assert out.off_diagonal.item() == pytest.approx(off, rel=1e-12)
    assert out.total.item() == pytest.approx(total, rel=1e-12)
    assert BarlowTwinsLoss(lambd=0.3)(Z_A, Z_B).total.item() == pytest.approx(total, rel=1e-12)
    # default lambda
    assert barlow_twins_loss(Z_A, Z_B).total.item() == pytest.approx(_barlow_by_hand(A_ROWS, B_ROWS, 0.0051)[2])


def test_barlow_zero_for_identical_decorrelated_embeddings():
    n, d = 16, 5
    g = torch.Generator().manual_seed(0)
    basis = torch.cat([torch.ones(n, 1, dtype=F64), torch.randn(n, d, generator=g, dtype=F64)], dim=1)
    q, _ = torch.linalg.qr(basis)  # orthonormal columns; columns 1.. are orthogonal to ones
    z = q[:, 1:] * math.sqrt(n)  # mean 0, biased std 1, z^T z / n = I
    out = barlow_twins_loss(z, z)
    assert out.total.item() < 1e-9
    assert out.off_diagonal.item() < 1e-20
    # a constant embedding is standardised to 0: C = 0, on-diagonal = D
    assert barlow_twins_loss(torch.ones(4, 3), torch.ones(4, 3)).on_diagonal.item() == pytest.approx(3.0)


# ---------------------------------------------------------------------------------- InfoNCE
def _info_nce_by_hand(a_rows, b_rows, temperature):
    n = len(a_rows)
    emb = [_norm(r) for r in a_rows] + [_norm(r) for r in b_rows]
    total = 0.0
    for i in range(2 * n):
        pos = i + n if i < n else i - n
        logits = {k: _dot(emb[i], emb[k]) / temperature for k in range(2 * n) if k != i}
        log_denominator = math.log(sum(math.exp(v) for v in logits.values()))
        total += log_denominator - logits[pos]
    return total / (2 * n)


def test_info_nce_by_hand():
    expected = _info_nce_by_hand(A_ROWS, B_ROWS, 0.5)
    assert info_nce_loss(Z_A, Z_B, temperature=0.5).item() == pytest.approx(expected, rel=1e-12)
    assert InfoNCELoss(0.5)(Z_A, Z_B).item() == pytest.approx(expected, rel=1e-12)
    assert info_nce_loss(Z_A, Z_B).item() == pytest.approx(_info_nce_by_hand(A_ROWS, B_ROWS, 0.1), rel=1e-12)


def test_info_nce_symmetric_in_views_and_scale_invariant():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 4, generator=g, dtype=F64), torch.randn(6, 4, generator=g, dtype=F64)
    assert info_nce_loss(a, b).item() == pytest.approx(info_nce_loss(b, a).item(), rel=1e-12)
    assert info_nce_loss(3 * a, b).item() == pytest.approx(info_nce_loss(a, b).item(), rel=1e-12)
    # perfectly aligned, well separated pairs: loss is small
    assert info_nce_loss(torch.eye(4), torch.eye(4), temperature=0.05).item() < 1e-6


# ---------------------------------------------------------------------------------- BYOL / SimSiam
def test_byol_and_simsiam_by_hand():
    expected_cos = [_dot(_norm(p), _norm(z)) for p, z in zip(A_ROWS, B_ROWS)]
    assert byol_loss(Z_A, Z_B).item() == pytest.approx(sum(2 - 2 * c for c in expected_cos) / 4, rel=1e-12)
    assert simsiam_loss(Z_A, Z_B).item() == pytest.approx(-sum(expected_cos) / 4, rel=1e-12)


def test_byol_extremes_and_detached_target():
    p = torch.tensor([[1.0, 2.0], [-3.0, 0.5]])
    assert byol_loss(p, 2 * p).item() == pytest.approx(0.0, abs=1e-6)
    assert byol_loss(p, -p).item() == pytest.approx(4.0)
    z = torch.randn(2, 2, requires_grad=True)
    q = p.clone().requires_grad_()
    byol_loss(q, z).backward()
    assert z.grad is None and q.grad is not None


def test_simsiam_stop_gradient():
    g = torch.Generator().manual_seed(2)
    p = torch.randn(5, 3, generator=g).requires_grad_()
    z = torch.randn(5, 3, generator=g).requires_grad_()
    simsiam_loss(p, z).backward()
    assert z.grad is None and p.grad.abs().sum() > 0
    z2 = z.detach().clone().requires_grad_()
    simsiam_loss(p, z2, stop_gradient=False).backward()
    assert z2.grad is not None and z2.grad.abs().sum() > 0
    assert simsiam_loss(p, p).item() == pytest.approx(-1.0)


def test_cosine_momentum():
    assert cosine_momentum(0, 100) == pytest.approx(0.996)
    assert cosine_momentum(100, 100) == pytest.approx(1.0)
    assert cosine_momentum(50, 100, base=0.9, final=1.0) == pytest.approx(0.95)
    assert cosine_momentum(25, 100, base=0.0, final=1.0) == pytest.approx(1 - (math.cos(math.pi / 4) + 1) / 2)
    assert cosine_momentum(500, 100) == pytest.approx(1.0)  # past the end: final
    with pytest.raises(ValueError, match="total_steps"):
        cosine_momentum(0, 0)
    with pytest.raises(ValueError, match="step"):
        cosine_momentum(-1, 10)


# ---------------------------------------------------------------------------------- EMA target
def _net() -> nn.Module:
    torch.manual_seed(0)  # module initialisation
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_ema_target_copy_and_update():
    online = _net()
    target = EMATarget(online)
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    x = torch.randn(5, 3)
    online.eval()
    target.eval()
    torch.testing.assert_close(target(x), online(x))
    start = [p.detach().clone() for p in target.module.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
        online[1].running_mean.fill_(7.0)

    target.update(online, momentum=1.0)  # keeps
    for kept, before in zip(target.module.parameters(), start):
        assert torch.equal(kept, before)
    target.update(online, momentum=0.5)
    for mid, before, new in zip(target.module.parameters(), start, online.parameters()):
        torch.testing.assert_close(mid, 0.5 * before + 0.5 * new)
    target.update(online, momentum=0.0)  # copies
    for copied, new in zip(target.module.parameters(), online.parameters()):
        assert torch.equal(copied, new)
    assert torch.equal(target.module[1].running_mean, online[1].running_mean)  # buffers copied
    assert all(not p.requires_grad for p in target.parameters())


def test_ema_target_bad_input():
    target = EMATarget(_net())
    with pytest.raises(ValueError, match="momentum"):
        target.update(_net(), momentum=1.5)
    with pytest.raises(ValueError, match="does not match"):
        target.update(nn.Linear(3, 4), momentum=0.5)
    wrong_shape = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match="shape"):
        target.update(wrong_shape, momentum=0.5)


# ---------------------------------------------------------------------------------- SIGReg / LeJEPA
def _epps_pulley_by_hand(rows, directions, num_points, t_max):
    n = len(rows)
    ts = [-t_max + 2 * t_max * k / (num_points - 1) for k in range(num_points)]
    stats = []
    for direction in directions:
        u = _norm(direction)
        xs = [_dot(r, u) for r in rows]
        values = []
        for t in ts:
            re = sum(math.cos(t * x) for x in xs) / n
            im = sum(math.sin(t * x) for x in xs) / n
            gauss = math.exp(-t * t / 2)
            values.append(((re - gauss) ** 2 + im**2) * gauss)
        h = ts[1] - ts[0]
        integral = h * (sum(values) - 0.5 * (values[0] + values[-1]))
        stats.append(n * integral)
    return sum(stats) / len(stats)


DIRECTIONS = [[1.0, 0.0, 0.0], [1.0, -2.0, 0.5]]


def test_sigreg_by_hand():
    expected = _epps_pulley_by_hand(A_ROWS, DIRECTIONS, num_points=7, t_max=2.0)
    dirs = torch.tensor(DIRECTIONS, dtype=F64)
    got = sigreg_loss(Z_A, num_points=7, t_max=2.0, directions=dirs)
    assert got.item() == pytest.approx(expected, rel=1e-10)
    assert SIGRegLoss(num_points=7, t_max=2.0)(Z_A, directions=dirs).item() == pytest.approx(expected, rel=1e-10)


def test_sigreg_small_for_gaussian_large_for_collapse():
    g = torch.Generator().manual_seed(0)
    gaussian = torch.randn(2000, 8, generator=g)
    two_points = torch.sign(torch.randn(2000, 1, generator=g)) * torch.ones(8)
    constant = torch.zeros(2000, 8)
    null = sigreg_loss(gaussian, num_directions=64, generator=torch.Generator().manual_seed(1)).item()
    assert 0.0 < null < 3.0  # E = int (1 - e^{-t^2}) e^{-t^2/2} dt ~ 1.06 under the null
    for collapsed in (two_points, constant):
        assert sigreg_loss(collapsed, num_directions=64, generator=torch.Generator().manual_seed(1)).item() > 100.0
    # same generator seed -> same directions -> same value
    again = sigreg_loss(gaussian, num_directions=64, generator=torch.Generator().manual_seed(1)).item()
    assert again == null


def test_sigreg_differentiable_and_descends():
    g = torch.Generator().manual_seed(3)
    z = (0.1 * torch.randn(128, 4, generator=g) + 2.0).requires_grad_()  # far from N(0, I)
    dirs = torch.randn(16, 4, generator=g)
    first = sigreg_loss(z, directions=dirs)
    first.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    opt = torch.optim.Adam([z], lr=0.1)
    for _ in range(60):
        loss = sigreg_loss(z, directions=dirs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first.item()


def test_lejepa_by_hand_and_convex_combination():
    views = torch.stack([Z_A, Z_B, 0.5 * Z_A - Z_B])  # (V=3, N=4, D=3), 2 global views
    dirs = torch.tensor(DIRECTIONS, dtype=F64)
    centre = [[(a + b) / 2 for a, b in zip(ra, rb)] for ra, rb in zip(A_ROWS, B_ROWS)]
    squares = [
        (views[v, n, d].item() - centre[n][d]) ** 2 for v in range(3) for n in range(4) for d in range(3)
    ]
    prediction = sum(squares) / len(squares)
    sig = sum(_epps_pulley_by_hand(views[v].tolist(), DIRECTIONS, 17, 3.0) for v in range(3)) / 3
    out = lejepa_loss(views, num_global=2, lambd=0.25, directions=dirs)
    assert out.prediction.item() == pytest.approx(prediction, rel=1e-12)
    assert out.sigreg.item() == pytest.approx(sig, rel=1e-10)
    assert out.total.item() == pytest.approx(0.75 * prediction + 0.25 * sig, rel=1e-10)
    assert lejepa_loss(views, 2, lambd=0.0, directions=dirs).total.item() == pytest.approx(prediction, rel=1e-12)
    assert lejepa_loss(views, 2, lambd=1.0, directions=dirs).total.item() == pytest.approx(sig, rel=1e-10)
    module = LeJEPALoss(num_global=2, lambd=0.25)
    assert module(views, directions=dirs).total.item() == pytest.approx(out.total.item(), rel=1e-12)
    # identical views: nothing to predict
    same = torch.stack([Z_A, Z_A])
    assert lejepa_loss(same, num_global=1, directions=dirs).prediction.item() == 0.0


# ---------------------------------------------------------------------------------- bad input
def test_bad_input_raises():
    two_d, other = torch.zeros(4, 3), torch.zeros(4, 2)
    with pytest.raises(ValueError, match="same shape"):
        barlow_twins_loss(two_d, other)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        barlow_twins_loss(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="at least 2 embeddings"):
        barlow_twins_loss(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="same shape"):
        info_nce_loss(two_d, other)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        info_nce_loss(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        info_nce_loss(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match="temperature"):
        info_nce_loss(two_d, two_d, temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        byol_loss(two_d, other)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        simsiam_loss(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        sigreg_loss(torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="directions"):
        sigreg_loss(two_d, directions=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="num_points"):
        SIGRegLoss(num_points=1)
    with pytest.raises(ValueError, match=r"\(V, N, D\)"):
        lejepa_loss(two_d, num_global=1)
    with pytest.raises(ValueError, match="num_global"):
        lejepa_loss(torch.zeros(2, 4, 3), num_global=3)
    with pytest.raises(ValueError, match="lambd"):
        lejepa_loss(torch.zeros(2, 4, 3), num_global=1, lambd=1.5)
