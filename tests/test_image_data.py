"""Image datasets: the container, on-disk format loaders (round trips) and offline built-ins."""

import gzip
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from hjepa.data.builtin_images import digits, load_builtin, photo_patches
from hjepa.data.image_formats import load_cifar, load_image_folder, load_mnist_idx
from hjepa.data.images import ImageDataset


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _dataset(n: int = 30, num_classes: int = 3) -> ImageDataset:
    g = _gen(0)
    return ImageDataset(
        images=torch.randint(0, 256, (n, 1, 4, 4), generator=g, dtype=torch.uint8),
        labels=torch.arange(n) % num_classes,
        num_classes=num_classes,
        name="toy",
    )


# --------------------------------------------------------------------------------- ImageDataset


def test_dataset_float_images_subset_and_len():
    ds = _dataset()
    assert len(ds) == 30
    f = ds.float_images()
    assert f.dtype == torch.float32 and f.shape == (30, 1, 4, 4)
    assert 0.0 <= float(f.min()) and float(f.max()) <= 1.0
    torch.testing.assert_close(f * 255.0, ds.images.float())
    torch.testing.assert_close(ds.float_images([4, 2]), f[[4, 2]])
    torch.testing.assert_close(ds.float_images(slice(0, 5)), f[:5])
    sub = ds.subset(torch.tensor([5, 1]))
    assert len(sub) == 2 and sub.num_classes == 3
    assert torch.equal(sub.images, ds.images[[5, 1]]) and sub.labels.tolist() == [2, 1]
    with pytest.raises(ValueError, match="indices must lie"):
        ds.subset([30])


def test_dataset_split_is_stratified_disjoint_and_seeded():
    ds = _dataset(n=40, num_classes=4)
    ds.images[:, 0, 0, 0] = torch.arange(40, dtype=torch.uint8)  # row id, to track rows
    train, test = ds.split(0.3, _gen(1))
    assert len(train) == 28 and len(test) == 12
    assert test.class_counts().tolist() == [3, 3, 3, 3]
    assert train.name == "toy-train" and test.name == "toy-test"
    ids_train = set(train.images[:, 0, 0, 0].tolist())
    ids_test = set(test.images[:, 0, 0, 0].tolist())
    assert ids_train.isdisjoint(ids_test) and len(ids_train | ids_test) == 40
    again, _ = ds.split(0.3, _gen(1))
    assert torch.equal(again.images, train.images)
    tr, te = ds.split(0.5, _gen(2), stratified=False)
    assert len(tr) == 20 and len(te) == 20
    with pytest.raises(ValueError, match="test_fraction"):
        ds.split(1.0, _gen(0))


def test_dataset_validation():
    imgs = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset(imgs.float(), labels, 3, "x")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageDataset(imgs[:, 0], labels, 3, "x")
    with pytest.raises(ValueError, match="int64"):
        ImageDataset(imgs, labels.int(), 3, "x")
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        ImageDataset(imgs, labels[:3], 3, "x")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        ImageDataset(imgs, labels, 2, "x")
    with pytest.raises(ValueError, match="class names"):
        ImageDataset(imgs, labels, 3, "x", class_names=("a", "b"))


# ---------------------------------------------------------------------------------------- CIFAR


def _cifar_rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def _dump(path, obj, protocol=2):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def _write_cifar10(root):
    root.mkdir()
    rows, labels = [], []
    for i in range(1, 6):
        data, lab = _cifar_rows(3, i), [(i + j) % 10 for j in range(3)]
        _dump(root / f"data_batch_{i}", {b"batch_label": b"x", b"data": data, b"labels": lab})
        rows.append(data)
        labels += lab
    test = _cifar_rows(4, 9)
    _dump(root / "test_batch", {b"data": test, b"labels": [9, 8, 7, 6]}, protocol=5)
    names = [f"class{i}".encode() for i in range(10)]
    _dump(root / "batches.meta", {b"label_names": names})
    return np.concatenate(rows), labels, test


def test_load_cifar10_round_trip(tmp_path):
    rows, labels, test = _write_cifar10(tmp_path / "c10")
    ds = load_cifar(tmp_path / "c10", train=True)
    assert ds.name == "cifar10-train" and ds.num_classes == 10
    assert ds.images.shape == (15, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert torch.equal(ds.images, torch.from_numpy(rows.reshape(15, 3, 32, 32)))
    # Channel-major rows: the first 1024 values of a row are the red plane.
    assert torch.equal(ds.images[0, 0].flatten(), torch.from_numpy(rows[0, :1024]))
    assert ds.labels.tolist() == labels
    assert ds.class_names[3] == "class3"
    te = load_cifar(tmp_path / "c10", train=False)
    assert te.labels.tolist() == [9, 8, 7, 6]
    assert torch.equal(te.images, torch.from_numpy(test.reshape(4, 3, 32, 32)))
    with pytest.raises(ValueError, match="only defined for CIFAR-100"):
        load_cifar(tmp_path / "c10", train=True, coarse=True)


def test_load_cifar100_fine_and_coarse(tmp_path):
    root = tmp_path / "c100"
    root.mkdir()
    data = _cifar_rows(5, 0)
    fine, coarse = [0, 99, 42, 7, 7], [0, 19, 10, 3, 3]
    _dump(root / "train", {b"data": data, b"fine_labels": fine, b"coarse_labels": coarse})
    _dump(root / "test", {b"data": data[:2], b"fine_labels": fine[:2], b"coarse_labels": coarse[:2]})
    ds = load_cifar(root, train=True)
    assert ds.num_classes == 100 and ds.labels.tolist() == fine and ds.class_names == ()
    assert torch.equal(ds.images, torch.from_numpy(data.reshape(5, 3, 32, 32)))
    dc = load_cifar(root, train=True, coarse=True)
    assert dc.num_classes == 20 and dc.labels.tolist() == coarse and dc.name == "cifar100-coarse-train"
    assert len(load_cifar(root, train=False)) == 2


def test_load_cifar_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_cifar(tmp_path / "nope", train=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a CIFAR python directory"):
        load_cifar(tmp_path / "empty", train=True)
    _write_cifar10(tmp_path / "c10")
    (tmp_path / "c10" / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        load_cifar(tmp_path / "c10", train=True)
    (tmp_path / "c10" / "data_batch_4").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ValueError, match="corrupt CIFAR file .*data_batch_4"):
        load_cifar(tmp_path / "c10", train=True)
    _dump(tmp_path / "c10" / "data_batch_4", {b"data": _cifar_rows(3, 0), b"labels": [1, 2]})
    with pytest.raises(ValueError, match="3 images but labels"):
        load_cifar(tmp_path / "c10", train=True)
    _dump(tmp_path / "c10" / "data_batch_4", {b"data": _cifar_rows(3, 0)[:, :100], b"labels": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"\(N, 3072\)"):
        load_cifar(tmp_path / "c10", train=True)
    _dump(tmp_path / "c10" / "data_batch_4", {b"data": _cifar_rows(1, 0), b"labels": [10]})
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        load_cifar(tmp_path / "c10", train=True)
    # Pickles that would call anything but numpy's array reconstruction are refused.
    _dump(tmp_path / "c10" / "data_batch_4", {b"data": ImageDataset, b"labels": []})
    with pytest.raises(ValueError, match="refusing to load global"):
        load_cifar(tmp_path / "c10", train=True)


# ------------------------------------------------------------------------------------------ IDX


def _idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx_round_trip(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 256, size=(6, 5, 7), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1, 2], dtype=np.uint8)
    suffix = ".gz" if gz else ""
    ip, lp = tmp_path / f"imgs-idx3-ubyte{suffix}", tmp_path / f"labels-idx1-ubyte{suffix}"
    write = gzip.compress if gz else (lambda b: b)
    ip.write_bytes(write(_idx_bytes(images, 2051)))
    lp.write_bytes(write(_idx_bytes(labels, 2049)))
    ds = load_mnist_idx(ip, lp)
    assert ds.images.shape == (6, 1, 5, 7) and ds.num_classes == 10
    assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
    assert ds.labels.tolist() == labels.tolist() and ds.labels.dtype == torch.int64
    assert ds.name == "imgs-idx3-ubyte"


def test_load_mnist_idx_errors(tmp_path):
    images = np.zeros((3, 2, 2), dtype=np.uint8)
    ip, lp = tmp_path / "i", tmp_path / "l"
    ip.write_bytes(_idx_bytes(images, 2051))
    lp.write_bytes(_idx_bytes(np.array([1, 2]), 2049))
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        load_mnist_idx(tmp_path / "missing", lp)
    with pytest.raises(ValueError, match="3 images.*2 labels"):
        load_mnist_idx(ip, lp)
    with pytest.raises(ValueError, match="magic number 2049, expected 2051.*swapped"):
        load_mnist_idx(lp, ip)
    lp.write_bytes(_idx_bytes(np.array([1, 2, 3]), 2049)[:-1])
    with pytest.raises(ValueError, match="needs 3 bytes of data, found 2"):
        load_mnist_idx(ip, lp)
    lp.write_bytes(_idx_bytes(np.array([1, 2, 12]), 2049))
    with pytest.raises(ValueError, match="label 12 out of range"):
        load_mnist_idx(ip, lp)
    lp.write_bytes(gzip.compress(_idx_bytes(np.array([1, 2, 3]), 2049))[:-6])
    with pytest.raises(ValueError, match="corrupt gzipped IDX"):
        load_mnist_idx(ip, lp)


# --------------------------------------------------------------------------------- image folder


def _write_folder(root, size=(5, 4)):
    rng = np.random.default_rng(0)
    written = {}
    for cls, count in (("dog", 2), ("cat", 3)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / cls / f"{i}.png")
            written[(cls, i)] = arr
    (root / "cat" / "notes.txt").write_text("ignored")
    return written


def test_load_image_folder_round_trip(tmp_path):
    written = _write_folder(tmp_path / "imgs")
    ds = load_image_folder(tmp_path / "imgs", size=None, channels=3)
    assert ds.class_names == ("cat", "dog") and ds.num_classes == 2
    assert ds.labels.tolist() == [0, 0, 0, 1, 1]
    assert ds.images.shape == (5, 3, 4, 5)
    expected = [written[("cat", i)] for i in range(3)] + [written[("dog", i)] for i in range(2)]
    assert torch.equal(ds.images, torch.from_numpy(np.stack(expected)).permute(0, 3, 1, 2))
    grey = load_image_folder(tmp_path / "imgs", size=8, channels=1)
    assert grey.images.shape == (5, 1, 8, 8) and grey.images.dtype == torch.uint8


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        load_image_folder(tmp_path / "nope", size=None, channels=3)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        load_image_folder(tmp_path, size=None, channels=2)
    root = tmp_path / "imgs"
    _write_folder(root)
    Image.fromarray(np.zeros((9, 9, 3), dtype=np.uint8)).save(root / "dog" / "big.png")
    with pytest.raises(ValueError, match="pass size="):
        load_image_folder(root, size=None, channels=3)
    assert len(load_image_folder(root, size=6, channels=3)) == 6
    (root / "dog" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="corrupt or unreadable image .*broken.jpg"):
        load_image_folder(root, size=6, channels=3)
    (root / "dog" / "broken.jpg").unlink()
    (root / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no"):
        load_image_folder(root, size=6, channels=3)


# ------------------------------------------------------------------------------------- built-ins


def test_mnist_5k():
    ds = load_builtin("mnist-5k")
    assert ds.images.shape == (5000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and ds.num_classes == 10
    assert ds.class_counts().tolist() == [500] * 10
    assert int(ds.images.max()) == 255 and int(ds.images.min()) == 0


def test_digits():
    ds = load_builtin("digits")
    assert ds.images.shape == (1797, 1, 8, 8) and ds.images.dtype == torch.uint8
    assert ds.num_classes == 10 and set(ds.labels.tolist()) == set(range(10))
    assert int(ds.images.max()) == 255
    big = digits(size=16)
    assert big.images.shape == (1797, 1, 16, 16) and big.labels.tolist() == ds.labels.tolist()
    with pytest.raises(ValueError, match=">= 8"):
        digits(size=4)


def test_photo_patches_shapes_labels_and_seed():
    ds = photo_patches(size=16, per_image=5, generator=_gen(3))
    assert ds.images.shape == (50, 3, 16, 16) and ds.images.dtype == torch.uint8
    assert ds.num_classes == 10 and ds.class_counts().tolist() == [5] * 10
    assert ds.class_names[0] == "astronaut"
    same = photo_patches(size=16, per_image=5, generator=_gen(3))
    other = photo_patches(size=16, per_image=5, generator=_gen(4))
    assert torch.equal(ds.images, same.images) and not torch.equal(ds.images, other.images)
    grey = photo_patches(size=8, per_image=2, photos=("camera", "coffee"), channels=1)
    assert grey.images.shape == (4, 1, 8, 8) and grey.num_classes == 2
    with pytest.raises(ValueError, match="valid names"):
        photo_patches(photos=("lena",))
    with pytest.raises(ValueError, match="exceeds photo"):
        photo_patches(size=400, per_image=1, photos=("chelsea",))


def test_load_builtin_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="mnist-5k, digits, photo-patches"):
        load_builtin("cifar10")
