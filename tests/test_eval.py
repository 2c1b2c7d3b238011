"""Linear probe and collapse diagnostics on problems with known answers."""

import pytest
import torch

from hjepa.eval.probe import probe_report
from hjepa.eval.rank import collapse_verdict, effective_rank, per_dim_std
from hjepa.nn.linear_probe import fit_linear_probe


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_probe_recovers_exact_linear_map():
    g = _gen(0)
    w = torch.randn(8, 3, generator=g)
    b = torch.tensor([1.0, -2.0, 0.5])
    x_train = 3.0 * torch.randn(400, 8, generator=g) + 1.0
    x_test = 3.0 * torch.randn(200, 8, generator=g) + 1.0
    report = probe_report(x_train, x_train @ w + b, x_test, x_test @ w + b, ridge=1e-8)
    assert report["r2_mean"] > 0.9999
    assert all(r > 0.9999 for r in report["r2"])
    assert report["rmse_mean"] < 1e-3 and len(report["rmse"]) == 3
    probe = fit_linear_probe(x_train, x_train @ w + b, ridge=1e-8)
    torch.testing.assert_close(probe.predict(x_test), x_test @ w + b, atol=1e-3, rtol=1e-4)


def test_probe_fails_on_independent_noise():
    g = _gen(1)
    x_train, y_train = torch.randn(500, 8, generator=g), torch.randn(500, 2, generator=g)
    x_test, y_test = torch.randn(500, 8, generator=g), torch.randn(500, 2, generator=g)
    report = probe_report(x_train, y_train, x_test, y_test)
    assert abs(report["r2_mean"]) < 0.1
    assert report["rmse_mean"] == pytest.approx(1.0, abs=0.15)


def test_probe_rejects_bad_input():
    x, y = torch.randn(10, 3), torch.randn(10, 2)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fit_linear_probe(bad, y)
    with pytest.raises(ValueError, match="N"):
        fit_linear_probe(x, y[:9])
    with pytest.raises(ValueError):
        probe_report(x, y, x, y[:5])


def test_effective_rank_isotropic_and_rank_one():
    d = 16
    assert effective_rank(torch.eye(d)) == pytest.approx(d, rel=1e-4)
    iso = torch.randn(20000, d, generator=_gen(2))
    assert effective_rank(iso) > 0.97 * d
    rank_one = torch.outer(torch.randn(1000, generator=_gen(3)), torch.randn(d, generator=_gen(4)))
    assert effective_rank(rank_one) == pytest.approx(1.0, abs=0.01)
    two = torch.cat([torch.eye(2), torch.zeros(2, d - 2)], dim=1)
    assert effective_rank(two) == pytest.approx(2.0, rel=1e-4)


def test_collapse_verdict():
    iso = torch.randn(2000, 8, generator=_gen(5))
    ok = collapse_verdict(iso)
    assert not ok["collapsed"] and ok["frac_dead_dims"] == 0.0
    constant = torch.ones(100, 8) + 1e-5 * torch.randn(100, 8, generator=_gen(6))
    assert collapse_verdict(constant)["collapsed"]
    rank_one = torch.outer(torch.randn(500, generator=_gen(7)), torch.ones(8))
    verdict = collapse_verdict(rank_one)
    assert verdict["collapsed"] and verdict["median_std"] > 0.5  # dimensional collapse only
    torch.testing.assert_close(per_dim_std(torch.tensor([[0.0, 1.0], [2.0, 1.0]])), torch.tensor([2**0.5, 0.0], dtype=torch.float64))
