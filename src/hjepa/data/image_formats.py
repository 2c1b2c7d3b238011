"""Loaders for image datasets stored in common on-disk formats; each returns an ``ImageDataset``.

- ``load_cifar``: the "python version" pickle directories of CIFAR-10 (``data_batch_1`` ..
  ``data_batch_5``, ``test_batch``, optional ``batches.meta``) and CIFAR-100 (``train``, ``test``,
  optional ``meta``). Each file is a pickled dict with byte-string keys; ``b"data"`` is a
  ``uint8 (N, 3072)`` array holding, per row, the 1024 red, then green, then blue values of a
  32x32 image in row-major order, so ``reshape(N, 3, 32, 32)`` gives ``(N, C, H, W)``.
- ``load_mnist_idx``: IDX files as used by MNIST / Fashion-MNIST / EMNIST, plain or gzipped.
- ``load_image_folder``: ``root/<class_name>/*.png|jpg|jpeg``, classes in sorted order.

Nothing is downloaded: point the loaders at files you already have.
"""

from __future__ import annotations

import gzip
import importlib
import pickle
from pathlib import Path

import numpy as np
import torch

from hjepa.data.images import ImageDataset
from hjepa.errors import InputError

_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


# ----------------------------------------------------------------------------------------- CIFAR


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, plain containers and scalars.

    Unpickling can run arbitrary code; CIFAR files only need numpy's array reconstruction, so any
    other global is refused. ``numpy.core`` (the name in pickles written by numpy 1.x) is resolved
    to ``numpy._core`` when that exists, avoiding numpy 2's deprecation shim.
    """

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module.startswith("numpy.core."):
            try:
                return getattr(importlib.import_module("numpy._core." + module[len("numpy.core."):]), name)
            except ImportError:  # numpy 1.x has no numpy._core
                pass
        return getattr(importlib.import_module(module), name)


def _read_pickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR file not found: {path}")
    try:
        with path.open("rb") as f:
            obj = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise InputError(f"corrupt CIFAR file {path}: {type(e).__name__}: {e}") from e
    if not isinstance(obj, dict):
        raise InputError(f"corrupt CIFAR file {path}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _get(batch: dict, key: str, path: Path):
    for k in (key.encode(), key):  # byte keys from Python 2 pickles, str keys from re-saved ones
        if k in batch:
            return batch[k]
    found = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in batch)
    raise InputError(f"corrupt CIFAR file {path}: no {key!r} entry (found {found})")


def _cifar_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickle file: ``(images uint8 (n, 3, 32, 32), labels int64 (n,))``."""
    batch = _read_pickle(path)
    data = np.asarray(_get(batch, "data", path))
    labels = np.asarray(_get(batch, label_key, path))
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise InputError(f"corrupt CIFAR file {path}: data must have shape (N, 3072), got {data.shape}")
    if data.dtype != np.uint8:
        raise InputError(f"corrupt CIFAR file {path}: data must be uint8, got {data.dtype}")
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise InputError(
            f"corrupt CIFAR file {path}: {data.shape[0]} images but {label_key} has shape {labels.shape}"
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"corrupt CIFAR file {path}: {label_key} must be integers, got {labels.dtype}")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise InputError(
            f"corrupt CIFAR file {path}: {label_key} must lie in [0, {num_classes}), "
            f"got range [{labels.min()}, {labels.max()}]"
        )
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_names(path: Path, key: str, num_classes: int) -> tuple[str, ...]:
    """Class names from a meta file, or ``()`` when the file is absent."""
    if not path.is_file():
        return ()
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in _get(_read_pickle(path), key, path)]
    if len(names) != num_classes:
        raise InputError(f"corrupt CIFAR meta file {path}: {len(names)} {key} for {num_classes} classes")
    return tuple(names)


def load_cifar(root: str | Path, train: bool, coarse: bool = False) -> ImageDataset:
    """Load CIFAR-10 or CIFAR-100 from its python pickle directory.

    Args:
        root: the extracted ``cifar-10-batches-py`` or ``cifar-100-python`` directory. Which of
            the two it is follows from the files present (``data_batch_1`` / ``test_batch`` for
            CIFAR-10, ``train`` / ``test`` for CIFAR-100).
        train: the 50000-image training set (all five CIFAR-10 batches) or the 10000-image test set.
        coarse: CIFAR-100 only: the 20 superclass labels instead of the 100 fine labels.
    Returns:
        ``ImageDataset`` with images ``uint8 (N, 3, 32, 32)``; class names when the meta file
        (``batches.meta`` / ``meta``) is present.
    Raises:
        FileNotFoundError: ``root`` or one of the needed files is missing.
        ValueError: a file is corrupt or inconsistent, or ``coarse=True`` for CIFAR-10.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CIFAR directory not found: {root}")
    split = "train" if train else "test"
    is_cifar10 = (root / "data_batch_1").is_file() or (root / "test_batch").is_file()
    is_cifar100 = (root / "train").is_file() or (root / "test").is_file()
    if is_cifar10 and is_cifar100:
        raise InputError(f"{root} holds both CIFAR-10 and CIFAR-100 files; point at one of them")
    if is_cifar10:
        if coarse:
            raise InputError("coarse=True is only defined for CIFAR-100; CIFAR-10 has one label set")
        files = _CIFAR10_TRAIN if train else ("test_batch",)
        label_key, num_classes, meta, names_key = "labels", 10, "batches.meta", "label_names"
        name = f"cifar10-{split}"
    elif is_cifar100:
        files = (split,)
        if coarse:
            label_key, num_classes, names_key = "coarse_labels", 20, "coarse_label_names"
        else:
            label_key, num_classes, names_key = "fine_labels", 100, "fine_label_names"
        meta = "meta"
        name = f"cifar100-{'coarse-' if coarse else ''}{split}"
    else:
        raise FileNotFoundError(
            f"{root} is not a CIFAR python directory: expected data_batch_1..5 and test_batch "
            "(cifar-10-batches-py) or train and test (cifar-100-python)"
        )
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR files missing from {root}: {missing}")
    parts = [_cifar_batch(root / f, label_key, num_classes) for f in files]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageDataset(
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=torch.from_numpy(labels),
        num_classes=num_classes,
        name=name,
        class_names=_cifar_names(root / meta, names_key, num_classes),
    )


# ------------------------------------------------------------------------------------------- IDX


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzipped or not); returns ``uint8`` of the stored shape.

    Header: two zero bytes, a type byte (``0x08`` = unsigned byte), a byte giving the number of
    dimensions ``d``, then ``d`` big-endian ``uint32`` sizes, then the data in row-major order.
    The first four bytes read as a big-endian int are the magic: 2049 for labels (d=1), 2051 for
    images (d=3).
    """
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file name says
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise InputError(f"corrupt gzipped IDX file {path}: {e}") from e
    if len(raw) < 4:
        raise InputError(f"corrupt IDX file {path}: only {len(raw)} bytes, no header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        kind = {2049: "labels", 2051: "images"}.get(expected_magic, "?")
        raise InputError(
            f"corrupt IDX file {path}: magic number {magic}, expected {expected_magic} ({kind}); "
            "were the images and labels files swapped?"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"corrupt IDX file {path}: header truncated")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise InputError(
            f"corrupt IDX file {path}: header shape {shape} needs {expected} bytes of data, "
            f"found {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist_idx(
    images_path: str | Path,
    labels_path: str | Path,
    num_classes: int = 10,
    name: str | None = None,
) -> ImageDataset:
    """Load an IDX image / label file pair (e.g. ``train-images-idx3-ubyte[.gz]``).

    Args:
        images_path: IDX file with magic 2051, ``uint8 (N, H, W)``.
        labels_path: IDX file with magic 2049, ``uint8 (N,)``.
        num_classes: size of the label space (10 for MNIST and Fashion-MNIST; 47 or 62 for EMNIST).
        name: dataset name; defaults to the images file name without ``.gz``.
    Returns:
        ``ImageDataset`` with images ``uint8 (N, 1, H, W)``.
    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a file is corrupt (bad magic, truncated), or the counts / label range disagree.
    """
    images_path, labels_path = Path(images_path), Path(labels_path)
    images = _read_idx(images_path, 2051)
    labels = _read_idx(labels_path, 2049)
    if images.shape[0] != labels.shape[0]:
        raise InputError(
            f"IDX count mismatch: {images_path} holds {images.shape[0]} images, "
            f"{labels_path} holds {labels.shape[0]} labels"
        )
    labels = labels.astype(np.int64)
    if labels.size and labels.max() >= num_classes:
        raise InputError(
            f"{labels_path}: label {labels.max()} out of range for num_classes={num_classes}"
        )
    if name is None:
        name = images_path.name.removesuffix(".gz")
    return ImageDataset(
        images=torch.from_numpy(images.copy()).unsqueeze(1),
        labels=torch.from_numpy(labels),
        num_classes=num_classes,
        name=name,
    )


# ---------------------------------------------------------------------------------- image folder


def _read_image(path: Path, size: int | None, channels: int) -> np.ndarray:
    """One image file -> ``uint8 (H, W, C)``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"corrupt or unreadable image {path}: {e}") from e
    return arr.reshape(arr.shape[0], arr.shape[1], channels)


def load_image_folder(root: str | Path, size: int | None, channels: int) -> ImageDataset:
    """Load ``root/<class_name>/<file>.png|.jpg|.jpeg`` (suffix case-insensitive).

    Classes are the non-hidden sub-directories of ``root`` in sorted order (label ``i`` is the
    ``i``-th name); files within a class are read in sorted order. Other files are ignored.

    Args:
        root: the directory holding one sub-directory per class.
        size: resize every image to ``size x size`` (bilinear, aspect ratio not kept); ``None``
            keeps the stored size, which must then be the same for all images.
        channels: 1 (greyscale, PIL mode ``"L"``) or 3 (RGB).
    Returns:
        ``ImageDataset`` with images ``uint8 (N, channels, H, W)`` and ``class_names``.
    Raises:
        FileNotFoundError: ``root`` is missing or has no class directories.
        ValueError: bad ``size`` / ``channels``, an empty class directory, an unreadable image, or
            differing image sizes with ``size=None``.
    """
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3, got {channels}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise InputError(f"size must be a positive int or None, got {size!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise FileNotFoundError(f"no class sub-directories in {root} (expected root/<class>/<image>.png)")
    arrays, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(
            p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES
        )
        if not files:
            raise InputError(f"class directory {class_dir} holds no .png/.jpg/.jpeg images")
        for path in files:
            arr = _read_image(path, size, channels)
            if arrays and arr.shape != arrays[0].shape:
                raise InputError(
                    f"image {path} has size {arr.shape[1]}x{arr.shape[0]} but the first image has "
                    f"{arrays[0].shape[1]}x{arrays[0].shape[0]}; pass size=... to resize them all"
                )
            arrays.append(arr)
            labels.append(label)
    images = np.stack(arrays).transpose(0, 3, 1, 2)
    return ImageDataset(
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=torch.tensor(labels, dtype=torch.int64),
        num_classes=len(class_dirs),
        name=root.name,
        class_names=tuple(d.name for d in class_dirs),
    )
