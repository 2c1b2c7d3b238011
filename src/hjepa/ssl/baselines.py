"""Reference encoders for SSL tables: a random-init floor and a supervised ceiling.

Both read an ``SSLTrainConfig`` so they share everything with the SSL run they are compared with
(dataset, backbone and width, steps, batch size, optimiser and schedule, precision, seed) and are
read out by the *same* frozen evaluation (``hjepa.eval.classify.feature_report`` on backbone
features of the train / test splits, with the same evaluation seed, hence the same 1% / 10%
label subsets):

* ``evaluate_random_init(config)``: the backbone exactly as initialised (seed ``config.seed``),
  never trained: what the frozen evaluation gets from architecture alone.
* ``train_supervised(config)``: the backbone plus a linear head trained with cross-entropy on the
  training labels, one augmented view per image (the first view of ``config.method``'s recipe),
  for the same number of steps, then the head is dropped and the backbone evaluated frozen.

Example::

    >>> config = SSLTrainConfig(dataset="digits", width=4, steps=5, batch_size=32, progress=False)
    >>> train_supervised(config)["linear_acc"]  # doctest: +SKIP
    0.93
"""

from __future__ import annotations

import time

import torch
from torch import nn

from hjepa.data.images import ImageDataset
from hjepa.errors import NonFiniteLoss
from hjepa.eval.classify import feature_report
from hjepa.optim import warmup_cosine
from hjepa.runs.distributed import resolve_device
from hjepa.runs.progress import progress
from hjepa.runs.run_dir import to_jsonable
from hjepa.ssl.build import build_backbone
from hjepa.ssl.config import SSLTrainConfig, derived_seeds, total_steps
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.evaluation import dataset_features
from hjepa.ssl.trainer import EpochSampler, make_optimizer, use_bf16
from hjepa.ssl.view_makers import build_views

__all__ = ["evaluate_random_init", "train_supervised"]


def _load(config: SSLTrainConfig, data: tuple[ImageDataset, ImageDataset] | None) -> tuple[ImageDataset, ImageDataset]:
    if data is not None:
        return data
    return load_ssl_data(config.dataset, config.data_root, config.test_fraction, config.image_size,
                         config.folder_channels)


def _frozen_report(backbone: nn.Module, train: ImageDataset, test: ImageDataset, config: SSLTrainConfig) -> dict:
    """``feature_report`` of the frozen backbone, with the evaluation seed of an SSL run of ``config``."""
    eval_seed = derived_seeds(config.seed)[2]
    train_x = dataset_features(backbone, train, channels_last=config.channels_last)
    test_x = dataset_features(backbone, test, channels_last=config.channels_last)
    report = feature_report(train_x, train.labels, test_x, test.labels, train.num_classes,
                            torch.Generator().manual_seed(eval_seed))
    return {**report, "feature_dim": int(train_x.shape[1])}


def _summary(kind: str, config: SSLTrainConfig, train: ImageDataset, test: ImageDataset, device: torch.device,
             steps: int, **extra) -> dict:
    return {"method": kind, "dataset": config.dataset, "backbone": config.backbone, "steps": steps,
            "batch_size": config.batch_size, "device": str(device), "train_images": len(train),
            "test_images": len(test), "num_classes": train.num_classes, **extra}


def evaluate_random_init(config: SSLTrainConfig, data: tuple[ImageDataset, ImageDataset] | None = None) -> dict:
    """Frozen evaluation of the untrained backbone of ``config`` (initialised with ``config.seed``).

    Returns ``feature_report``'s keys plus ``feature_dim``, ``method="random-init"``, ``steps=0``,
    ``train_seconds=0`` and the dataset / backbone description.
    """
    start = time.perf_counter()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    train, test = _load(config, data)
    channels, size, _ = train.image_shape
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    backbone = build_backbone(config.backbone, channels, size, config.width).to(device)
    if config.channels_last:
        backbone.to(memory_format=torch.channels_last)
    report = _frozen_report(backbone, train, test, config)
    summary = _summary("random-init", config, train, test, device, 0, train_seconds=0.0,
                       total_seconds=time.perf_counter() - start)
    return to_jsonable({**report, **summary})


def train_supervised(config: SSLTrainConfig, data: tuple[ImageDataset, ImageDataset] | None = None) -> dict:
    """Train ``config``'s backbone + a linear head with cross-entropy, then evaluate the backbone frozen.

    Same batches (``EpochSampler`` with the run's data seed), augmentations (view 0 of
    ``build_views(config.method, ...)``), optimiser (``config.optimizer``, ``lr``, weight decay),
    warm-up + cosine schedule, steps (``total_steps(config, N)``) and precision as an SSL run of
    ``config``. ``method`` only picks the augmentation recipe.

    Returns:
        ``feature_report``'s keys plus ``feature_dim``, ``train_accuracy`` (running accuracy of the
        head over the last 10% of steps), ``final_loss``, ``train_seconds``, ``images_per_second``,
        ``bf16``, ``method="supervised"`` and the run description.
    Raises:
        FloatingPointError: the loss became NaN / inf.
    """
    start = time.perf_counter()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    train, test = _load(config, data)
    channels, size, _ = train.image_shape
    device = resolve_device(config.device)
    steps = total_steps(config, len(train))
    data_seed, view_seed, _ = derived_seeds(config.seed)
    sampler = EpochSampler(len(train), config.batch_size, data_seed)
    torch.manual_seed(config.seed)
    backbone = build_backbone(config.backbone, channels, size, config.width)
    model = nn.Sequential(backbone, nn.Linear(backbone.out_dim, train.num_classes)).to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    views = build_views(config.method, size, channels, num_views=config.num_views)
    view_generator = torch.Generator().manual_seed(view_seed)
    optimizer = make_optimizer(config, [p for p in model.parameters() if p.requires_grad])
    bf16 = use_bf16(config.precision, device)
    train_seconds, correct, seen, loss_value = 0.0, 0, 0, float("nan")
    tail = max(1, steps // 10)
    model.train()
    for step in progress(range(steps), desc="supervised", enabled=config.progress, total=steps):
        t0 = time.perf_counter()
        lr = warmup_cosine(step, steps, config.warmup_steps, config.lr, config.final_lr_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        index = sampler.indices(step)
        images = views(train.float_images(index), view_generator)[0].to(device)
        if config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = train.labels[index].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(images)
        loss = nn.functional.cross_entropy(logits.float(), labels)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"supervised loss is not finite at step {step}; lower --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= steps - tail:
            correct += int((logits.detach().argmax(dim=1) == labels).sum())
            seen += labels.shape[0]
        train_seconds += time.perf_counter() - t0
        loss_value = float(loss.detach())
    report = _frozen_report(backbone, train, test, config)
    summary = _summary(
        "supervised", config, train, test, device, steps, train_accuracy=correct / max(seen, 1),
        final_loss=loss_value, train_seconds=train_seconds,
        images_per_second=steps * config.batch_size / max(train_seconds, 1e-9), bf16=bf16,
        total_seconds=time.perf_counter() - start,
    )
    return to_jsonable({**report, **summary})
