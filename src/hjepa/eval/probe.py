"""Linear-probe measurements: how linearly decodable is a quantity (e.g. agent position) from
features? The probe itself is :class:`hjepa.nn.linear_probe.LinearProbe`."""

from __future__ import annotations

from torch import Tensor

from hjepa.nn.linear_probe import check_features_targets, fit_linear_probe


def probe_report(
    train_feats: Tensor,
    train_targets: Tensor,
    test_feats: Tensor,
    test_targets: Tensor,
    ridge: float = 1e-3,
) -> dict:
    """Fit on the training split, score on the held-out split.

    Returns:
        ``{"rmse": [K floats], "rmse_mean": float, "r2": [K floats], "r2_mean": float}`` where
        ``r2_k = 1 - SSE_k / SST_k`` on the test set (SST around the test mean).
    """
    check_features_targets(test_feats, test_targets, "test")
    probe = fit_linear_probe(train_feats, train_targets, ridge)
    y = test_targets.detach().double().cpu()
    pred = probe.predict(test_feats.detach().double().cpu())
    sse = (pred - y).pow(2).sum(dim=0)
    sst = (y - y.mean(dim=0)).pow(2).sum(dim=0).clamp_min(1e-12)
    rmse = (sse / y.shape[0]).sqrt()
    r2 = 1.0 - sse / sst
    return {
        "rmse": rmse.tolist(),
        "rmse_mean": float(rmse.mean()),
        "r2": r2.tolist(),
        "r2_mean": float(r2.mean()),
    }
