"""The labelled image datasets SSL training reads, as a (train, test) pair.

Built-in datasets (``mnist-5k``, ``digits``, ``photo-patches``, ``rotated-digits``) ship with
installed packages and have no test split: one is drawn with ``test_fraction`` and a *fixed* seed
(``SPLIT_SEED``), so runs with different training seeds are evaluated on the same test images.
``rotated-digits`` (``hjepa.data.transformed_objects``) renders the digits of ``mnist-5k`` in
colour at known rotations and hues (SIE's data; its measurements split the recorded rotations and
hues with the same rows). Real formats read
``data_root``:

* ``cifar10`` / ``cifar100``: the extracted ``cifar-10-batches-py`` / ``cifar-100-python``
  directory (its train and test sets);
* ``mnist-idx``: a directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``): MNIST,
  Fashion-MNIST, KMNIST...;
* ``image-folder``: ``root/<class>/<image>`` files; with ``root/train/<class>/...`` and
  ``root/test/<class>/...`` those are the splits, otherwise the test split is drawn as for the
  built-ins.

Labels are only used to evaluate the representation (online probe, frozen evaluation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from hjepa.data.builtin_images import load_builtin
from hjepa.data.image_formats import load_cifar, load_image_folder, load_mnist_idx
from hjepa.data.images import ImageDataset
from hjepa.data.transformed_objects import transformed_digits
from hjepa.errors import InputError

DatasetName = Literal["mnist-5k", "digits", "photo-patches", "rotated-digits", "cifar10", "cifar100", "mnist-idx",
                      "image-folder"]
BUILTIN_DATASETS = ("mnist-5k", "digits", "photo-patches", "rotated-digits")
FILE_DATASETS = ("cifar10", "cifar100", "mnist-idx", "image-folder")
SPLIT_SEED = 0
"""Seed of the train / test split of datasets that have none (independent of the training seed)."""


def _idx_file(root: Path, stem: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{root} holds neither {stem} nor {stem}.gz (expected the four MNIST IDX files)")


def _resize(dataset: ImageDataset, size: int) -> ImageDataset:
    """Bilinear resize of every image to ``size x size`` (uint8 kept)."""
    if dataset.images.shape[-2:] == (size, size):
        return dataset
    resized = F.interpolate(dataset.images.float(), size=(size, size), mode="bilinear", align_corners=False)
    return ImageDataset(
        images=resized.round().clamp(0, 255).to(torch.uint8), labels=dataset.labels,
        num_classes=dataset.num_classes, name=dataset.name, class_names=dataset.class_names,
    )


def _split(dataset: ImageDataset, test_fraction: float) -> tuple[ImageDataset, ImageDataset]:
    return dataset.split(test_fraction, torch.Generator().manual_seed(SPLIT_SEED))


def load_ssl_data(
    dataset: str,
    data_root: Path | None,
    test_fraction: float,
    image_size: int | None = None,
    folder_channels: int = 3,
) -> tuple[ImageDataset, ImageDataset]:
    """``(train, test)`` of ``dataset``, images resized to ``image_size`` when given.

    Raises:
        ValueError: unknown dataset (the message lists them), ``data_root`` missing for a real
            format or given for a built-in, square images required but not square.
        FileNotFoundError: ``data_root`` or a needed file missing.
    """
    if dataset in BUILTIN_DATASETS:
        if data_root is not None:
            raise InputError(f"--data-root is only read by {', '.join(FILE_DATASETS)}; {dataset} is built in")
        if dataset == "rotated-digits":  # the digits of mnist-5k under known rotations and hues (SIE)
            train, test = _split(transformed_digits().images, test_fraction)
        else:
            train, test = _split(load_builtin(dataset), test_fraction)
    elif dataset in FILE_DATASETS:
        if data_root is None:
            raise InputError(f"dataset {dataset} needs --data-root (the directory holding its files)")
        root = Path(data_root)
        if not root.is_dir():
            raise FileNotFoundError(f"data root {root} does not exist or is not a directory")
        match dataset:
            case "cifar10" | "cifar100":
                train, test = load_cifar(root, train=True), load_cifar(root, train=False)
                expected = 10 if dataset == "cifar10" else 100
                if train.num_classes != expected:
                    raise InputError(f"{root} holds a {train.num_classes}-class CIFAR, not {dataset}")
            case "mnist-idx":
                train = load_mnist_idx(_idx_file(root, "train-images-idx3-ubyte"),
                                       _idx_file(root, "train-labels-idx1-ubyte"), name=f"{root.name}-train")
                test = load_mnist_idx(_idx_file(root, "t10k-images-idx3-ubyte"),
                                      _idx_file(root, "t10k-labels-idx1-ubyte"), name=f"{root.name}-test")
            case _:  # image-folder
                if (root / "train").is_dir() and (root / "test").is_dir():
                    train = load_image_folder(root / "train", image_size, folder_channels)
                    test = load_image_folder(root / "test", image_size, folder_channels)
                    if train.class_names != test.class_names:
                        raise InputError(f"{root}/train and {root}/test hold different class directories")
                else:
                    train, test = _split(load_image_folder(root, image_size, folder_channels), test_fraction)
    else:
        valid = ", ".join(BUILTIN_DATASETS + FILE_DATASETS)
        raise InputError(f"unknown dataset {dataset!r}; valid names: {valid}")
    if image_size is not None:
        train, test = _resize(train, image_size), _resize(test, image_size)
    height, width = train.images.shape[-2:]
    if height != width:
        raise InputError(f"{dataset} images are {height}x{width}; pass --image-size to make them square")
    return train, test
