"""Training loop of the JEPA world model: sample windows, minimise the objective, log, check.

Under ``torchrun`` (a ``context`` over several processes) every process draws the same global batch
of windows from the shared generator and trains on its block of rows (``local_rows``); VICReg's
variance/covariance and SIGReg see the global batch (their statistics are gathered), the other terms
are means over the local rows, and averaging the gradients over processes turns those into the
global-batch mean: the same step as one process on the whole batch, up to floating-point order.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from hjepa.data.windows import WindowSampler
from hjepa.errors import InputError, NonFiniteLoss
from hjepa.objectives.temporal import InverseDynamics
from hjepa.runs.distributed import DistributedContext, average_gradients, average_over_processes, local_rows
from hjepa.runs.progress import progress
from hjepa.runs.run_dir import RunDir
from hjepa.world.model import JEPAWorldModel
from hjepa.world.objective import WorldModelLossWeights, world_model_loss


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation of the world model."""

    steps: int | None = None
    """Gradient steps (None: the job's default — Two Rooms uses 1500 for random layouts, 600 for
    the fixed layout)."""
    batch_size: int = 128
    """Windows per step."""
    window: int = 8
    """Predictor steps per window (each is ``frameskip`` environment steps)."""
    lr: float = 2e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to 5% of it)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup_steps: int = 100
    """Steps of linear learning-rate warm-up."""
    grad_clip: float = 5.0
    """Clip the global gradient norm to this value (0: no clipping)."""
    log_every: int = 50
    """Write the loss terms to metrics.jsonl every this many steps."""
    eval_every: int = 500
    """Run the held-out diagnostics (probe, rank, rollout error) every this many steps."""
    eval_windows: int = 256
    """Held-out windows per diagnostic."""
    checkpoint_every: int = 100
    """Save the training state (model, optimiser, random generators) every this many steps, so that
    ``--resume`` continues an interrupted run exactly where it was."""

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise InputError(f"train.steps must be >= 1, got {self.steps}")
        for name in ("batch_size", "window", "log_every", "eval_every", "eval_windows", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InputError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"train.lr must be a positive number, got {self.lr}")
        if self.warmup_steps < 0:
            raise InputError(f"train.warmup_steps must be >= 0, got {self.warmup_steps}")
        for name in ("weight_decay", "grad_clip"):
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name))):
                raise InputError(f"train.{name} must be a finite number >= 0, got {getattr(self, name)}")


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress_frac = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress_frac))))


Diagnose = Callable[[JEPAWorldModel, torch.Generator], dict[str, float]]
"""Held-out diagnostics run during training: ``(model, generator) -> {name: value}`` (e.g.
:class:`hjepa.eval.world_diagnostics.HeldOutDiagnostics`, which also keeps the fitted probe)."""


@dataclass
class TrainResult:
    """What training leaves: the last diagnostics and the wall-clock time."""

    diagnostics: dict[str, float]
    seconds: float
    steps: int


def train_world_model(
    model: JEPAWorldModel,
    inverse_dynamics: InverseDynamics | None,
    train_windows: WindowSampler,
    weights: WorldModelLossWeights,
    config: TrainConfig,
    generator: torch.Generator,
    diagnose: Diagnose | None = None,
    run: RunDir | None = None,
    bf16: bool = False,
    show_progress: bool = True,
    step_offset: int = 0,
    desc: str = "train world model",
    checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    context: DistributedContext | None = None,
) -> TrainResult:
    """Train ``model`` (and the inverse-dynamics head) in place; log to ``run`` if given.

    Training runs on the device of ``model``'s parameters (windows are rendered on the CPU and
    moved there). ``step_offset`` is added to the step numbers logged, so that a second call
    (e.g. training on practice data) continues the first one's curves; ``desc`` names the
    progress bar. ``diagnose`` runs every ``config.eval_every`` steps and after the last one, with
    its own generator drawn once from ``generator``.

    ``checkpoint(state)`` is called every ``config.checkpoint_every`` steps (not after the last)
    with the loop's state (``step`` done, model, inverse dynamics, optimiser, the diagnostics
    generator, the last diagnostics); the caller adds the training ``generator``'s state and writes
    it. ``resume`` is such a state: training continues after its step, bit for bit as if it had
    never stopped (the caller restores ``generator`` and torch's global generator first).

    ``context`` (from ``hjepa.runs.distributed.init_distributed``) trains on this process's rows of
    each global batch of ``config.batch_size`` windows and averages the gradients over processes;
    the loss and terms logged and checked are their global-batch values. Every process must make
    the same calls with the same ``generator`` state; pass ``run``, ``diagnose`` and ``checkpoint``
    on rank 0 only. None (or one process): the plain single-process loop.

    Raises ``NonFiniteLoss`` if the loss becomes NaN/inf, naming the step and the terms, rather
    than silently training on garbage.
    """
    if config.steps is None:
        raise InputError("train.steps must be set before training")
    distributed = context is not None and context.world_size > 1
    rows = local_rows(config.batch_size, context) if distributed else None
    device = next(model.parameters()).device
    params = list(model.parameters())
    if inverse_dynamics is not None:
        params += list(inverse_dynamics.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    eval_generator = torch.Generator()
    first, diagnostics = 0, {}
    if resume is None:
        eval_generator.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
    else:
        model.load_state_dict(resume["model"])
        if inverse_dynamics is not None:
            inverse_dynamics.load_state_dict(resume["inverse_dynamics"])
        optimizer.load_state_dict(resume["optimizer"])
        eval_generator.set_state(resume["eval_generator"])
        first, diagnostics = int(resume["step"]), dict(resume["diagnostics"])
    model.train()
    start = time.perf_counter()
    bar = progress(range(first, config.steps), desc=desc, enabled=show_progress, initial=first, total=config.steps)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        batch = train_windows.sample(config.batch_size, generator)
        obs, actions = batch.obs, batch.actions  # (B, T+1, C, H, W), (B, T, A): the global batch
        if rows is not None:
            obs, actions = obs[rows], actions[rows]  # this process's block
        obs, actions = obs.to(device, non_blocking=True), actions.to(device, non_blocking=True)
        local_loss, terms = world_model_loss(model, inverse_dynamics, obs, actions, weights, bf16=bf16, generator=generator)
        loss = local_loss
        if distributed:  # the global-batch values: every process checks and logs the same numbers
            values = average_over_processes(torch.stack([local_loss.detach(), *terms.values()]), context)
            loss, terms = values[0], dict(zip(terms, values[1:]))
        if not torch.isfinite(loss):
            detail = ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
            for what, value in (("observations", batch.obs), ("actions", batch.actions)):
                if not bool(torch.isfinite(value).all()):  # bad data, not a too-high learning rate
                    raise NonFiniteLoss(
                        f"training batch at step {step} has NaN or inf in its {what}; the world-model loss "
                        f"is not finite ({detail}); check the dataset"
                    )
            raise NonFiniteLoss(f"world-model loss is not finite at step {step} ({detail}); lower train.lr")
        optimizer.zero_grad(set_to_none=True)
        local_loss.backward()
        if distributed:
            average_gradients(params, context)
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()

        last = step == config.steps - 1
        if run is not None and (step % config.log_every == 0 or last):
            record = {f"loss/{k}": float(v) for k, v in terms.items()}
            record.update({"loss/total": float(loss.detach()), "lr": learning_rate(step, config)})
            record["seconds"] = time.perf_counter() - start
            run.log(record, step=step_offset + step)
        if diagnose is not None and ((step + 1) % config.eval_every == 0 or last):
            diagnostics = diagnose(model, eval_generator)
            model.train()
            if run is not None:
                run.log({f"eval/{k}": v for k, v in diagnostics.items()}, step=step_offset + step)
            if hasattr(bar, "set_postfix") and "probe_rmse_px" in diagnostics:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", probe_px=f"{diagnostics['probe_rmse_px']:.2f}")
        if checkpoint is not None and (step + 1) % config.checkpoint_every == 0 and not last:
            checkpoint({"step": step + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "inverse_dynamics": inverse_dynamics.state_dict() if inverse_dynamics is not None else {},
                        "eval_generator": eval_generator.get_state(), "diagnostics": diagnostics})
    model.eval()
    return TrainResult(diagnostics, time.perf_counter() - start, config.steps)
