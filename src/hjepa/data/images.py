"""In-memory labelled image datasets: ``uint8`` images ``(N, C, H, W)`` with ``int64`` labels.

Images are kept as ``uint8`` (a quarter of the memory of ``float32``) and turned into floats in
``[0, 1]`` only for the rows a caller asks for (``float_images``). Loaders for real formats live in
``hjepa.data.image_formats``; offline built-in datasets in ``hjepa.data.builtin_images``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from hjepa.errors import InputError


def _as_index(indices: Tensor | Sequence[int], n: int) -> Tensor:
    """``indices`` -> ``int64 (M,)`` on the CPU, checked to lie in ``[0, n)``."""
    idx = torch.as_tensor(indices)
    if idx.numel() == 0:
        return torch.zeros(0, dtype=torch.int64)
    if idx.dim() != 1:
        raise InputError(f"indices must be 1-D, got shape {tuple(idx.shape)}")
    if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
        raise InputError(f"indices must be integers, got dtype {idx.dtype}")
    idx = idx.to(device="cpu", dtype=torch.int64)
    if int(idx.min()) < 0 or int(idx.max()) >= n:
        raise InputError(
            f"indices must lie in [0, {n}), got range [{int(idx.min())}, {int(idx.max())}]"
        )
    return idx


@dataclass
class ImageDataset:
    """Labelled images held in memory.

    Attributes:
        images: ``uint8 (N, C, H, W)``, pixel values ``0..255``.
        labels: ``int64 (N,)``, class ids in ``[0, num_classes)``.
        num_classes: number of classes (fixed by the dataset, not by which labels occur, so a
            subset missing a class keeps the same label space).
        name: short human-readable name, e.g. ``"cifar10-train"``.
        class_names: optional ``num_classes`` names (empty when unknown).
    """

    images: Tensor
    labels: Tensor
    num_classes: int
    name: str
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        where = f"ImageDataset {self.name!r}"
        if not isinstance(self.images, Tensor) or not isinstance(self.labels, Tensor):
            raise InputError(f"{where}: images and labels must be torch tensors")
        if self.images.dtype != torch.uint8:
            raise InputError(f"{where}: images must be uint8, got {self.images.dtype}")
        if self.images.dim() != 4:
            raise InputError(f"{where}: images must have shape (N, C, H, W), got {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64:
            raise InputError(f"{where}: labels must be int64, got {self.labels.dtype}")
        if self.labels.dim() != 1:
            raise InputError(f"{where}: labels must have shape (N,), got {tuple(self.labels.shape)}")
        if self.labels.shape[0] != self.images.shape[0]:
            raise InputError(
                f"{where}: {self.images.shape[0]} images but {self.labels.shape[0]} labels"
            )
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise InputError(f"{where}: num_classes must be a positive int, got {self.num_classes!r}")
        if self.labels.numel() > 0:
            lo, hi = int(self.labels.min()), int(self.labels.max())
            if lo < 0 or hi >= self.num_classes:
                raise InputError(
                    f"{where}: labels must lie in [0, {self.num_classes}), got range [{lo}, {hi}]"
                )
        self.class_names = tuple(self.class_names)
        if self.class_names and len(self.class_names) != self.num_classes:
            raise InputError(
                f"{where}: {len(self.class_names)} class names for {self.num_classes} classes"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def class_counts(self) -> Tensor:
        """Examples per class: ``int64 (num_classes,)``."""
        return torch.bincount(self.labels.cpu(), minlength=self.num_classes)

    def float_images(self, idx: Tensor | Sequence[int] | slice | None = None) -> Tensor:
        """Images as ``float32 (n, C, H, W)`` in ``[0, 1]``.

        Args:
            idx: rows to convert (integer indices or a slice); ``None`` for all ``N`` rows.
        """
        if idx is None:
            chosen = self.images
        elif isinstance(idx, slice):
            chosen = self.images[idx]
        else:
            chosen = self.images[_as_index(idx, len(self)).to(self.images.device)]
        return chosen.to(torch.float32) / 255.0

    def subset(self, indices: Tensor | Sequence[int], name: str | None = None) -> "ImageDataset":
        """The rows ``indices (M,)`` (in that order) as a new dataset with the same label space."""
        idx = _as_index(indices, len(self))
        return ImageDataset(
            images=self.images[idx.to(self.images.device)],
            labels=self.labels[idx.to(self.labels.device)],
            num_classes=self.num_classes,
            name=self.name if name is None else name,
            class_names=self.class_names,
        )

    def split_indices(
        self, test_fraction: float, generator: torch.Generator, stratified: bool = True
    ) -> tuple[Tensor, Tensor]:
        """The rows of ``split``: ``(train_idx, test_idx)``, each ``int64`` in increasing order.

        Datasets that carry per-row annotations beside the images (e.g. the transformation
        parameters of ``hjepa.data.transformed_objects``) use it to split those the same way.
        Arguments and errors as ``split``.
        """
        if not 0.0 < test_fraction < 1.0:
            raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
        labels = self.labels.cpu()
        if stratified:
            test_parts = []
            for c in range(self.num_classes):
                members = torch.nonzero(labels == c).flatten()
                n_c = members.numel()
                if n_c < 2:
                    continue
                n_test = min(max(int(test_fraction * n_c + 0.5), 1), n_c - 1)
                test_parts.append(members[torch.randperm(n_c, generator=generator)[:n_test]])
            test_idx = torch.cat(test_parts) if test_parts else torch.zeros(0, dtype=torch.int64)
        else:
            n_test = int(test_fraction * len(self) + 0.5)
            test_idx = torch.randperm(len(self), generator=generator)[:n_test]
        is_test = torch.zeros(len(self), dtype=torch.bool)
        is_test[test_idx] = True
        train_idx = torch.nonzero(~is_test).flatten()
        test_idx = torch.nonzero(is_test).flatten()
        if train_idx.numel() == 0 or test_idx.numel() == 0:
            raise InputError(
                f"split of {len(self)} rows with test_fraction={test_fraction} leaves "
                f"{train_idx.numel()} train and {test_idx.numel()} test rows; both must be non-empty"
            )
        return train_idx, test_idx

    def split(
        self, test_fraction: float, generator: torch.Generator, stratified: bool = True
    ) -> tuple["ImageDataset", "ImageDataset"]:
        """Random train / test split, ``(train, test)``, each keeping the original row order.

        Args:
            test_fraction: fraction of rows for the test set, in ``(0, 1)``.
            generator: source of the random permutation (CPU ``torch.Generator``).
            stratified: when true, each class is split on its own: ``round(test_fraction * n_c)``
                of its ``n_c`` rows (halves rounded up) go to test, clamped to ``[1, n_c - 1]`` for
                classes with at least 2 rows (a single-row class goes to train), so both sides see
                every class that can be shared. When false, ``round(test_fraction * N)`` rows
                chosen uniformly go to test.
        Raises:
            ValueError: ``test_fraction`` outside ``(0, 1)`` or one side would be empty.
        """
        train_idx, test_idx = self.split_indices(test_fraction, generator, stratified)
        return (
            self.subset(train_idx, name=f"{self.name}-train"),
            self.subset(test_idx, name=f"{self.name}-test"),
        )
