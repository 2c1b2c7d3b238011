"""What an SSL training run is: ``SSLTrainConfig``, and the model and views it describes.

The config is stored in ``config.json`` and in every checkpoint, so a checkpoint alone rebuilds
its encoder (``build_ssl_model``) for evaluation or resumption.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from hjepa.errors import InputError, check_seed
from hjepa.ssl.build import build_backbone, build_method
from hjepa.ssl.data import BUILTIN_DATASETS, FILE_DATASETS, DatasetName
from hjepa.ssl.method import SSLMethod
from hjepa.ssl.names import METHODS, BackboneName, MethodName
from hjepa.ssl.view_makers import ViewMaker, build_views


@dataclass(frozen=True)
class SSLTrainConfig:
    """Self-supervised pre-training of an image encoder, then its frozen evaluation.

    Labels are never seen by the SSL objective: they only train the *online* linear probe, a
    separate classifier on detached features (a training-time readout of the representation),
    and the frozen evaluation after training.
    """

    method: MethodName = "vicreg"
    """SSL method (ablations included)."""
    dataset: DatasetName = "mnist-5k"
    """Dataset: built in (mnist-5k, digits, photo-patches) or read from --data-root."""
    data_root: Path | None = None
    """Directory of cifar10 / cifar100 (python pickles), mnist-idx (the four IDX files) or image-folder."""
    test_fraction: float = 0.2
    """Fraction held out for testing by datasets without a test split (fixed split seed 0)."""
    image_size: int | None = None
    """Resize images to this side (image-folder images of mixed sizes need it); None: keep."""
    folder_channels: Literal[1, 3] = 3
    """Channels image-folder images are read with (1: greyscale, 3: RGB)."""
    backbone: BackboneName = "convnet"
    """Encoder architecture."""
    width: int | None = None
    """Backbone size knob (convnet base width 32, resnet18 base width 64, vit dim 128); None: default."""
    projector_dim: int = 512
    """Width of the projector / expander layers (the papers use 2048-8192)."""
    num_views: int = 4
    """LeJEPA: views per image."""
    num_global: int = 2
    """LeJEPA: how many of the views are global."""
    base_momentum: float = 0.996
    """BYOL: initial momentum of the EMA target (cosine-increased to 1)."""
    vc_weight: float = 0.04
    """Weight of the variance-covariance regulariser of the byol-/simsiam- *-vc ablations and of ijepa-vc."""
    steps: int = 800
    """Optimiser steps (ignored when --epochs is set). 800 x 256 images fit the 10-minute budget on an
    AVX2-only CPU in fp32 (~410 images/s with two views); VICReg reaches >= 97% linear on mnist-5k."""
    epochs: float | None = None
    """Train for this many passes over the training split instead of --steps."""
    batch_size: int = 256
    """Global batch size (split over the processes of a distributed run)."""
    optimizer: Literal["adamw", "lars"] = "adamw"
    """AdamW, or LARS (SGD momentum 0.9 with layer-wise trust ratio, as VICReg / BYOL)."""
    lr: float = 1e-3
    """Peak learning rate, used as given (LARS: the papers use 0.2-0.3 * batch_size / 256)."""
    weight_decay: float = 1e-4
    """Weight decay of weight matrices and kernels (never of biases / norm parameters); LARS papers: 1e-6."""
    warmup_steps: int = 100
    """Steps of linear learning-rate warm-up before the cosine decay."""
    final_lr_fraction: float = 0.0
    """End of the cosine decay as a fraction of the peak learning rate."""
    lars_eta: float = 0.001
    """LARS trust coefficient."""
    probe_lr: float = 1e-3
    """Adam learning rate of the online linear probe (on detached features, labels of the batch)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """bf16 autocast: 'auto' uses it on GPUs with bf16 and on CPUs with native bf16 only."""
    channels_last: bool = False
    """Channels-last memory format for images and convolutions (faster on some CPUs / GPUs)."""
    device: str = "auto"
    """Torch device: auto (this process's GPU if any, else the CPU), cpu, cuda, cuda:1..."""
    seed: int = 0
    """Seed of initialisation, batches and views: the same seed repeats the run."""
    threads: int = 0
    """Torch CPU threads (0: leave torch's default)."""
    log_every: int = 10
    """Write losses, learning rate, images/s and probe accuracy to metrics.jsonl every this many steps."""
    eval_every: int = 0
    """Every this many steps, k-NN and online-probe accuracy on held-out images (0: never)."""
    eval_images: int = 2000
    """Images of each split used by the periodic evaluation (--eval-every) and the SIE / MC-JEPA measurements."""
    rank_images: int = 4096
    """Training images whose projector embeddings give the final embedding rank and spectrum."""
    checkpoint_every: int = 500
    """Write checkpoints/last.pt every this many steps (and always at the end); 0: only at the end."""
    progress: bool = True
    """Show progress bars."""
    log: Literal["tensorboard", "none"] = "tensorboard"
    """Also write metrics and figures as TensorBoard events in <run>/tensorboard/ (when installed)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown SSL method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.dataset not in BUILTIN_DATASETS + FILE_DATASETS:
            valid = ", ".join(BUILTIN_DATASETS + FILE_DATASETS)
            raise InputError(f"unknown dataset {self.dataset!r}; valid names: {valid}")
        positive = ("projector_dim", "steps", "batch_size", "log_every", "eval_images", "rank_images", "num_views")
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "eval_every", "checkpoint_every", "threads"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        check_seed("seed", self.seed)
        if self.epochs is not None and not (self.epochs > 0 and math.isfinite(self.epochs)):
            raise InputError(f"epochs must be a positive number, got {self.epochs}")
        for name in ("lr", "probe_lr", "lars_eta"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise InputError(f"{name} must be a positive number, got {value}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise InputError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if not 0.0 < self.test_fraction < 1.0:
            raise InputError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not 0.0 <= self.final_lr_fraction <= 1.0:
            raise InputError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction}")
        if not 0.0 <= self.base_momentum <= 1.0:
            raise InputError(f"base_momentum must be in [0, 1], got {self.base_momentum}")
        if self.image_size is not None and self.image_size < 2:
            raise InputError(f"image_size must be >= 2 or None, got {self.image_size}")
        if self.width is not None and self.width < 1:
            raise InputError(f"width must be >= 1 or None, got {self.width}")
        if not 1 <= self.num_global <= self.num_views:
            raise InputError(f"num_global must be in [1, num_views={self.num_views}], got {self.num_global}")

    def to_dict(self) -> dict:
        """Plain JSON types (``data_root`` as a string)."""
        out = dataclasses.asdict(self)
        out["data_root"] = None if self.data_root is None else str(self.data_root)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "SSLTrainConfig":
        """Inverse of ``to_dict``; unknown keys (another version's checkpoint) are refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"stored SSL config has unknown fields {unknown}; was it written by another version?")
        values = dict(values)
        if values.get("data_root") is not None:
            values["data_root"] = Path(values["data_root"])
        return cls(**values)


CHECKPOINT_FORMAT = "hjepa.ssl.checkpoint/1"
"""``format`` entry of SSL training checkpoints (they also hold ``config``, ``step``, ``method``...)."""

RESUMABLE_CHANGES = ("threads", "progress", "log_every", "eval_every", "eval_images", "checkpoint_every")
"""Fields that may differ between a checkpoint's config and the run resuming it (they do not
change the trained weights); every other field must match."""


def config_mismatch(stored: SSLTrainConfig, current: SSLTrainConfig) -> list[str]:
    """``"field: stored -> current"`` for each field that may not change on resumption."""
    a, b = stored.to_dict(), current.to_dict()
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if k not in RESUMABLE_CHANGES and a[k] != b[k]]


def total_steps(config: SSLTrainConfig, train_size: int) -> int:
    """``config.steps``, or ``ceil(epochs * train_size / batch_size)`` when ``epochs`` is set."""
    if config.epochs is None:
        return config.steps
    return max(1, math.ceil(config.epochs * train_size / config.batch_size))


def derived_seeds(seed: int) -> tuple[int, int, int]:
    """Independent seeds of the batch order, the views and the evaluations, from the run's seed."""
    base = torch.Generator().manual_seed(seed)
    return tuple(int(x) for x in torch.randint(0, 2**62, (3,), generator=base))  # type: ignore[return-value]


def build_ssl_model(config: SSLTrainConfig, in_channels: int, image_size: int) -> tuple[SSLMethod, ViewMaker]:
    """The method (fresh weights from the global torch RNG) and its view maker."""

    def backbone_factory():
        return build_backbone(config.backbone, in_channels, image_size, config.width)

    method = build_method(
        config.method, backbone_factory, in_channels, image_size, config.projector_dim,
        vc_weight=config.vc_weight, base_momentum=config.base_momentum, num_views=config.num_views,
        num_global=config.num_global, seed=config.seed % 2**31,
    )
    views = build_views(config.method, image_size, in_channels, num_views=config.num_views)
    return method, views
