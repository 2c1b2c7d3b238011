"""Self-supervised pre-training of an image encoder: the training loop, checkpoints and resumption.

``train_ssl(config, run)`` loads the dataset, builds the backbone, method and views, trains with a
warm-up + cosine schedule (AdamW or LARS), logs every loss term, the learning rate, images/s and
the online probe to ``metrics.jsonl``, checkpoints, and finally evaluates the frozen backbone
(``hjepa.ssl.evaluation``). ``run_ssl_training`` is the command-line job around it (run directory,
``--resume``, multi-process launch).

Labels: the SSL objective never sees them. They train only the *online linear probe*, an
``nn.Linear`` on detached backbone features with its own optimiser (its gradient cannot reach the
encoder), whose running training accuracy shows during training how linearly separable the
representation is; and they are used by the frozen evaluation at the end.

Repeatability: the seed fixes the initialisation (global torch RNG), the batches (one permutation
per epoch, from a generator seeded by the seed and the epoch) and the views (a generator whose
state is checkpointed), so the same seed repeats the run, and a run stopped and resumed from a
checkpoint ends with the same weights as one that was never interrupted.

Scale-out: under ``torchrun`` every process draws the same global batch and views and keeps its
block of rows (``hjepa.runs.distributed``, ``hjepa.ssl.distributed``); only rank 0 writes files.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

from hjepa.data.images import ImageDataset
from hjepa.errors import InputError, NonFiniteLoss
from hjepa.eval.classify import knn_accuracy
from hjepa.eval.rank import effective_rank
from hjepa.nn.precision import resolve_bf16
from hjepa.objectives.gather import gather_batch
from hjepa.optim import LARS, warmup_cosine
from hjepa.runs.distributed import (
    DistributedContext,
    agree,
    init_distributed,
    leave_together,
    local_rows,
    shutdown_distributed,
)
from hjepa.runs.metrics import read_metrics
from hjepa.runs.progress import progress
from hjepa.runs.run_dir import METRICS_FILE, RunDir, atomic_write_text, load_checkpoint, to_jsonable
from hjepa.ssl.config import (
    CHECKPOINT_FORMAT,
    SSLTrainConfig,
    build_ssl_model,
    config_mismatch,
    derived_seeds,
    total_steps,
)
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.distributed import sync_batchnorm, unused_parameters, wrap_ddp
from hjepa.ssl.evaluation import (
    dataset_features,
    evaluate_ssl,
    frozen_evaluation,
    view0_embeddings,
    write_ssl_outputs,
)
from hjepa.ssl.property_measures import property_measures

__all__ = ["SSLTrainConfig", "evaluate_ssl", "run_ssl_training", "train_ssl"]


def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast? On CUDA 'auto' means 'if the GPU supports bf16'; on the CPU see ``resolve_bf16``."""
    if device.type == "cuda":
        return precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported())
    return resolve_bf16(precision)


def make_optimizer(config: SSLTrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """AdamW (no weight decay on tensors with <= 1 dimension) or LARS (which excludes them itself)."""
    match config.optimizer:
        case "adamw":
            groups = [{"params": [p for p in params if p.dim() > 1], "weight_decay": config.weight_decay},
                      {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]
            return torch.optim.AdamW(groups, lr=config.lr)
        case "lars":
            return LARS(params, lr=config.lr, weight_decay=config.weight_decay, eta=config.lars_eta)
        case _:
            raise InputError(f"unknown optimizer {config.optimizer!r}; choose adamw or lars")


class EpochSampler:
    """Rows of the global batch of step ``s``: consecutive slices of one random permutation per
    epoch (the last partial batch of an epoch is dropped). The permutation of epoch ``e`` comes from
    a generator seeded with ``(seed, e)``, so any step's batch is known without replaying the past."""

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        if batch_size > size:
            raise InputError(f"batch_size {batch_size} exceeds the {size} training images")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.per_epoch = size // batch_size
        self._epoch, self._perm = -1, torch.zeros(0, dtype=torch.int64)

    def indices(self, step: int) -> Tensor:
        """``int64 (batch_size,)`` row indices of step ``step``."""
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed((self.seed + epoch * 0x9E3779B97F4A7C15) % 2**63)
            self._epoch, self._perm = epoch, torch.randperm(self.size, generator=generator)
        return self._perm[position * self.batch_size : (position + 1) * self.batch_size]


def _truncate_metrics(run: RunDir, step: int) -> None:
    """Drop records logged at or after ``step`` (after the checkpoint a resumed run starts from)."""
    path = run.path(METRICS_FILE)
    if path.is_file():
        kept = [r for r in read_metrics(path) if r.get("step", 0) < step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


def _mean_over_processes(loss: Tensor, terms: dict[str, Tensor], context: DistributedContext
                         ) -> tuple[float, dict[str, float]]:
    """Loss and logged terms averaged over processes, as floats.

    Terms that are means over local rows (e.g. VICReg's invariance) average to the single-process
    value; terms computed on the gathered batch are equal on every process anyway. Monitors of
    local batch statistics (e.g. ``std``) become the mean of the per-process values.
    """
    values = torch.stack([loss.detach().float().reshape(()), *(v.detach().float().reshape(()) for v in terms.values())])
    if context.world_size > 1:
        dist.all_reduce(values)
        values = values / context.world_size
    numbers = values.tolist()
    return numbers[0], dict(zip(terms, numbers[1:]))


def _periodic_eval(method, probe: nn.Linear, train: ImageDataset, test: ImageDataset, device) -> dict:
    """k-NN accuracy, online-probe accuracy and RankMe of the backbone on held-out images."""
    train_x, test_x = dataset_features(method.backbone, train), dataset_features(method.backbone, test)
    with torch.no_grad():
        predicted = probe(test_x.to(device)).argmax(dim=1).cpu()
    return {
        "eval/knn_acc": knn_accuracy(train_x, train.labels, test_x, test.labels, train.num_classes),
        "eval/probe_acc": float((predicted == test.labels).float().mean()),
        "eval/effective_rank": effective_rank(test_x),
    }


def train_ssl(config: SSLTrainConfig, run: RunDir | None = None, *, resume_from: Path | None = None,
              stop_at: int | None = None, data: tuple[ImageDataset, ImageDataset] | None = None) -> dict:
    """Train, checkpoint and evaluate; returns the summary (also ``summary.json`` when ``run``).

    Args:
        config: the run.
        run: where to write config-independent outputs (metrics, checkpoints, plots, summary,
            report); ``None`` writes nothing. Only used on rank 0 of a distributed run.
        resume_from: a checkpoint of this config to continue from (weights, optimiser, probe,
            step and random state); the metrics log of ``run`` is cut back to its step.
        stop_at: stop after this many steps with a checkpoint, as if interrupted (resume later).
        data: ``(train, test)`` already loaded; by default ``load_ssl_data`` from the config.
    Returns:
        the summary; ``{"stopped_at": step, ...}`` when stopped early; on ranks other than 0 only
        ``{"rank", "steps"}``.
    Raises:
        FloatingPointError: the loss became NaN / inf (the message names the step).
        ValueError, FileNotFoundError: bad data or a checkpoint of another config.
    """
    start_time = time.perf_counter()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    context = init_distributed(config.device)
    try:
        result = _train(config, run if context.is_main else None, context, resume_from, stop_at, data, start_time)
        leave_together(context)
        return result
    finally:
        shutdown_distributed(context)


def _train(config: SSLTrainConfig, run: RunDir | None, context: DistributedContext, resume_from: Path | None,
           stop_at: int | None, data, start_time: float) -> dict:
    device = context.device
    train, test = data if data is not None else load_ssl_data(
        config.dataset, config.data_root, config.test_fraction, config.image_size, config.folder_channels)
    channels, size, _ = train.image_shape
    steps = total_steps(config, len(train))
    rows = local_rows(config.batch_size, context)
    data_seed, view_seed, eval_seed = derived_seeds(config.seed)
    sampler = EpochSampler(len(train), config.batch_size, data_seed)
    state = load_checkpoint(resume_from) if resume_from is not None else None
    if state is not None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise InputError(f"{resume_from} is not an SSL training checkpoint (format {state.get('format')!r})")
        changed = config_mismatch(SSLTrainConfig.from_dict(state["config"]), config)
        if changed:
            raise InputError(f"cannot resume {resume_from} with a different config: {'; '.join(changed)}")

    torch.manual_seed(config.seed)
    method, views = build_ssl_model(config, channels, size)
    probe = nn.Linear(method.backbone.out_dim, train.num_classes)
    if state is not None:
        method.load_state_dict(state["method"])
        probe.load_state_dict(state["probe"])
    method.to(device)
    if config.channels_last:
        method.to(memory_format=torch.channels_last)
    probe.to(device)
    model: nn.Module = method
    if context.world_size > 1:
        probe_images = train.float_images(torch.arange(min(len(train), rows.stop - rows.start)))
        probe_views = [v.to(device) for v in views(probe_images, torch.Generator().manual_seed(eval_seed))]
        find_unused = bool(unused_parameters(method, probe_views))
        method = sync_batchnorm(method, device)
        model = wrap_ddp(method, context, find_unused)
    optimizer = make_optimizer(config, [p for p in method.parameters() if p.requires_grad])
    probe_optimizer = torch.optim.Adam(probe.parameters(), lr=config.probe_lr)
    view_generator = torch.Generator().manual_seed(view_seed)
    bf16 = use_bf16(config.precision, device)
    start_step, train_seconds, images_seen = 0, 0.0, 0
    interval = {"images": 0, "seconds": 0.0, "correct": 0, "seen": 0}
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        probe_optimizer.load_state_dict(state["probe_optimizer"])
        view_generator.set_state(state["view_generator"])
        torch.set_rng_state(state["torch_rng"])
        start_step, train_seconds = int(state["step"]), float(state["train_seconds"])
        images_seen, interval = int(state["images_seen"]), dict(state["interval"])
        if run is not None:
            _truncate_metrics(run, start_step)
    eval_generator = torch.Generator().manual_seed(eval_seed)
    eval_train = train.subset(torch.randperm(len(train), generator=eval_generator)[: config.eval_images])
    eval_test = test.subset(torch.randperm(len(test), generator=eval_generator)[: config.eval_images])

    def save(step: int) -> None:
        if run is None:
            return
        run.save_checkpoint("last", {
            "format": CHECKPOINT_FORMAT, "config": config.to_dict(), "step": step, "total_steps": steps,
            "method": method.state_dict(), "optimizer": optimizer.state_dict(), "probe": probe.state_dict(),
            "probe_optimizer": probe_optimizer.state_dict(), "view_generator": view_generator.get_state(),
            "torch_rng": torch.get_rng_state(), "train_seconds": train_seconds, "images_seen": images_seen,
            "interval": interval,
        })

    model.train()
    bar = progress(range(start_step, steps), desc=f"ssl {config.method}", enabled=config.progress and context.is_main,
                   initial=start_step, total=steps)
    for step in bar:
        t0 = time.perf_counter()
        lr = warmup_cosine(step, steps, config.warmup_steps, config.lr, config.final_lr_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        index = sampler.indices(step)
        labels = train.labels[index].to(device)
        batch = [v[rows].to(device, non_blocking=True) for v in views(train.float_images(index), view_generator)]
        if config.channels_last:
            batch = [v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for v in batch]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(batch)
        loss, terms = _mean_over_processes(out.loss, out.terms, context)
        if not math.isfinite(loss):
            detail = ", ".join(f"{k}={v:.4g}" for k, v in terms.items())
            raise NonFiniteLoss(f"SSL loss is not finite at step {step} (loss={loss}; {detail}); lower --lr")
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        method.after_step(step, steps)
        features = gather_batch(out.features.detach().float())  # (global batch, F), rows in batch order
        logits = probe(features)
        probe_loss = nn.functional.cross_entropy(logits, labels)
        probe_optimizer.zero_grad(set_to_none=True)
        probe_loss.backward()
        probe_optimizer.step()
        interval["correct"] += int((logits.detach().argmax(dim=1) == labels).sum())
        interval["seen"] += labels.shape[0]
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        images_seen += config.batch_size
        interval["images"] += config.batch_size
        interval["seconds"] += seconds

        last = step == steps - 1
        if step % config.log_every == 0 or last:
            record = {"loss": loss, **{f"loss/{k}": v for k, v in terms.items()}, "lr": lr,
                      "images_per_second": interval["images"] / max(interval["seconds"], 1e-9),
                      "probe/loss": float(probe_loss.detach()),
                      "probe/train_acc": interval["correct"] / max(interval["seen"], 1),
                      "seconds": time.perf_counter() - start_time}
            interval = {"images": 0, "seconds": 0.0, "correct": 0, "seen": 0}
            if run is not None:
                run.log(record, step=step)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss:.4g}", probe_acc=f"{record['probe/train_acc']:.3f}")
        if context.is_main and config.eval_every and ((step + 1) % config.eval_every == 0 or last):
            evaluation = _periodic_eval(method, probe, eval_train, eval_test, device)
            if run is not None:
                run.log(evaluation, step=step)
        if stop_at is not None and step + 1 >= stop_at and not last:
            save(step + 1)
            return {"stopped_at": step + 1, "steps": steps, "train_seconds": train_seconds}
        if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0 and not last:
            save(step + 1)
    save(steps)
    # Every process embeds (the method's loss gathers across processes); the rest is rank 0's.
    embeddings = view0_embeddings(method, views, train, config.rank_images, device, eval_seed)
    if not context.is_main:
        return {"rank": context.rank, "steps": steps}
    results, spectra = frozen_evaluation(method, views, train, test, device, eval_seed, config.rank_images,
                                         config.channels_last, embeddings)
    results.update(property_measures(method, config, train, test, eval_seed))
    summary = {
        **results,
        "images_per_second": images_seen / max(train_seconds, 1e-9), "train_seconds": train_seconds,
        "method": config.method, "dataset": config.dataset, "backbone": config.backbone, "steps": steps,
        "batch_size": config.batch_size, "processes": context.world_size, "device": str(device), "bf16": bf16,
        "train_images": len(train), "test_images": len(test), "num_classes": train.num_classes,
        "total_seconds": time.perf_counter() - start_time,
    }
    summary = to_jsonable(summary)
    if run is not None:
        notes = (f"{steps} steps of {config.batch_size} images ({config.optimizer}, peak lr {config.lr}) on "
                 f"{len(train)} training images, {context.world_size} process(es) on {device}, bf16={bf16}: "
                 f"{summary['train_seconds']:.1f} s of training, {summary['images_per_second']:.0f} images/s; "
                 f"{len(test)} test images.")
        write_ssl_outputs(run, summary, spectra, f"SSL: {config.method} on {config.dataset}", notes)
    return summary


def run_ssl_training(config: SSLTrainConfig, name: str = "ssl", runs_root: Path = Path("runs"),
                     overwrite: bool = False, resume: bool = False, stop_at: int | None = None) -> dict:
    """The ``hjepa ssl train`` job: make (or, with ``resume``, reopen) ``<runs_root>/<name>`` on rank 0
    and train into it. Data is loaded first, so bad inputs leave no run directory behind.

    Raises:
        FileExistsError: the run exists and neither ``overwrite`` nor ``resume``.
        FileNotFoundError: ``resume`` without ``<runs_root>/<name>/checkpoints/last.pt``.
    """
    if resume and overwrite:
        raise InputError("--resume continues an existing run; it cannot be combined with --overwrite")
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    context = init_distributed(config.device)
    try:
        data = load_ssl_data(config.dataset, config.data_root, config.test_fraction, config.image_size,
                             config.folder_channels)
        checkpoint = Path(runs_root) / name / "checkpoints" / "last.pt"
        if resume and not checkpoint.is_file():
            raise FileNotFoundError(f"nothing to resume: checkpoint {checkpoint} not found")
        run, error = None, None
        if context.is_main:
            try:
                tensorboard = config.log == "tensorboard"
                run = (RunDir.reopen(runs_root, name, tensorboard=tensorboard) if resume
                       else RunDir.create(runs_root, name, overwrite, tensorboard=tensorboard))
                if not resume:
                    run.write_config(config.to_dict(), "ssl train")
            except (OSError, ValueError) as caught:
                error = caught
        agree(context, error)
        return train_ssl(config, run, resume_from=checkpoint if resume else None, stop_at=stop_at, data=data)
    finally:
        shutdown_distributed(context)
