"""Honest checks of a world model on held-out data: does the state encode the agent's position,
has the representation collapsed, how far does the multi-step prediction drift?"""

from __future__ import annotations

import torch

from hjepa.data.windows import WindowSampler
from hjepa.eval.probe import probe_report
from hjepa.eval.rank import effective_rank, per_dim_std
from hjepa.nn.linear_probe import LinearProbe, fit_linear_probe
from hjepa.world.hierarchy import HighLevelModel, kl_to_standard_normal
from hjepa.world.model import JEPAWorldModel


@torch.no_grad()
def world_model_diagnostics(
    model: JEPAWorldModel,
    heldout: WindowSampler,
    windows: int,
    generator: torch.Generator,
    bf16: bool = False,
) -> tuple[dict[str, float], LinearProbe]:
    """Metrics on ``windows`` held-out windows and a linear (x, y) probe fitted on half of them.

    Returns a dict with:
        probe_rmse_px / probe_r2: linear probe of the agent's (x, y) from the state, fitted on one
            half of the windows and scored on the other half (pixels; R^2);
        rollout_rmse_px: the same probe applied to the *predicted* state after the whole window,
            against the true final position — the planner's view of the model's accuracy;
        pred_error_t{k}: mean squared error between predicted and encoded states k steps ahead,
            divided by the states' total variance (0 = perfect, 1 = no better than the mean);
        effective_rank, std_min, std_mean: collapse diagnostics of the states.
    """
    was_training = model.training
    model.eval()
    batch = heldout.sample(windows, generator)
    device = next(model.parameters()).device
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        states = model.encode(batch.obs.to(device))
    states = states.float()  # (B, T+1, D)
    predicted = model.rollout(states[:, 0], batch.actions.to(device))  # (B, T+1, D)
    states, predicted = states.cpu(), predicted.cpu()
    model.train(was_training)

    half = windows // 2
    flat_states = states.reshape(-1, states.shape[-1])
    flat_pos = batch.positions.reshape(-1, 2)
    steps = states.shape[1]
    train_rows, test_rows = slice(0, half * steps), slice(half * steps, None)
    report = probe_report(flat_states[train_rows], flat_pos[train_rows], flat_states[test_rows], flat_pos[test_rows])
    probe = fit_linear_probe(flat_states[train_rows], flat_pos[train_rows])
    final_guess = probe.predict(predicted[half:, -1])
    rollout_rmse = (final_guess - batch.positions[half:, -1]).pow(2).sum(-1).mean().sqrt()

    total_var = flat_states.var(0).sum().clamp_min(1e-12)
    metrics: dict[str, float] = {
        "probe_rmse_px": float(report["rmse_mean"]),
        "probe_r2": float(report["r2_mean"]),
        "rollout_rmse_px": float(rollout_rmse),
        "effective_rank": float(effective_rank(flat_states)),
    }
    std = per_dim_std(flat_states)
    metrics["std_min"], metrics["std_mean"] = float(std.min()), float(std.mean())
    errors = (predicted[:, 1:] - states[:, 1:]).pow(2).sum(-1).mean(0) / total_var  # (T,)
    for k in sorted({1, steps // 2, steps - 1}):
        metrics[f"pred_error_t{k}"] = float(errors[k - 1])
    return metrics, probe


class HeldOutDiagnostics:
    """:func:`world_model_diagnostics` as the training loop's ``diagnose`` callback.

    ``HeldOutDiagnostics(heldout, windows, bf16)(model, generator) -> metrics``; the (x, y) probe
    fitted by the last call is kept in ``probe`` (None before the first call).
    """

    def __init__(self, heldout, windows: int, bf16: bool = False) -> None:
        self.heldout, self.windows, self.bf16 = heldout, windows, bf16
        self.probe: LinearProbe | None = None

    def __call__(self, model: JEPAWorldModel, generator: torch.Generator) -> dict[str, float]:
        metrics, self.probe = world_model_diagnostics(model, self.heldout, self.windows, generator, self.bf16)
        return metrics


@torch.no_grad()
def high_level_diagnostics(high: HighLevelModel, low_model: JEPAWorldModel, heldout, windows: int,
                           generator: torch.Generator) -> dict[str, float]:
    """Level 2 on held-out windows: normalised prediction error 1 and T steps ahead (macro-actions at
    their encoder mean, z = 0), a linear probe of (x, y) from ``s2`` (pixels) and the macro-action KL."""
    batch = heldout.sample(windows, generator)
    s2 = high.abstract(low_model.encode(batch.obs))
    mean, log_var = high.encode_actions(batch.actions)
    predicted = high.rollout(s2[:, 0], mean)
    total_var = s2.reshape(-1, s2.shape[-1]).var(0).sum().clamp_min(1e-12)
    errors = (predicted[:, 1:] - s2[:, 1:]).pow(2).sum(-1).mean(0) / total_var  # (T,)
    half = windows // 2
    flat_s2, flat_pos = s2.reshape(-1, s2.shape[-1]), batch.positions.reshape(-1, 2)
    rows = half * s2.shape[1]
    probe = probe_report(flat_s2[:rows], flat_pos[:rows], flat_s2[rows:], flat_pos[rows:])
    return {
        "l2_pred_error_t1": float(errors[0]),
        f"l2_pred_error_t{errors.shape[0]}": float(errors[-1]),
        "l2_probe_rmse_px": float(probe["rmse_mean"]),
        "l2_kl_nats": float(kl_to_standard_normal(mean, log_var).mean()),
    }
