"""The digit-scenes segmentation dataset and the linear segmentation probe (mIoU)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hjepa.data.builtin_images import DEFAULT_PHOTOS
from hjepa.data.segmentation import SEGMENTATION_CLASSES, digit_scenes, texture_scenes
from hjepa.eval.segmentation import cell_targets, encoder_maps, iou_scores, linear_segmentation_miou


@pytest.fixture(scope="module")
def scenes():
    return digit_scenes(count=120, generator=torch.Generator().manual_seed(0))


def test_scenes_shapes_labels_and_masks(scenes):
    assert scenes.images.images.shape == (120, 3, 32, 32) and scenes.images.images.dtype == torch.uint8
    assert scenes.masks.shape == (120, 32, 32) and scenes.num_classes == len(SEGMENTATION_CLASSES) == 11
    for n in range(120):
        classes = set(scenes.masks[n].unique().tolist())
        assert classes == {0, int(scenes.images.labels[n]) + 1}  # background + this image's digit
    foreground = (scenes.masks > 0).float().mean()
    assert 0.05 < foreground < 0.4


def test_scenes_are_composited_where_the_mask_says(scenes):
    images = scenes.images.float_images()
    fg = (scenes.masks > 0).unsqueeze(1).expand_as(images)
    # the pasted colour differs from the texture behind it: foreground pixels stand out on average
    per_image = [(images[n][fg[n]].mean() - images[n][~fg[n]].mean()).abs() for n in range(20)]
    assert float(torch.stack(per_image).mean()) > 0.15


def test_scenes_repeatable_and_split(scenes):
    again = digit_scenes(count=120, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.images.images, scenes.images.images) and torch.equal(again.masks, scenes.masks)
    train, test = scenes.split(0.25, torch.Generator().manual_seed(1))
    assert len(train) == 90 and len(test) == 30
    rows = {tuple(x.flatten()[:64].tolist()) for x in train.images.images}
    assert not any(tuple(x.flatten()[:64].tolist()) in rows for x in test.images.images)
    with pytest.raises(ValueError, match="count"):
        digit_scenes(count=0)


def test_texture_scenes_masks_and_labels():
    scenes = texture_scenes(count=60, generator=torch.Generator().manual_seed(0))
    assert scenes.images.images.shape == (60, 3, 32, 32) and scenes.num_classes == 10
    assert scenes.class_names == DEFAULT_PHOTOS == scenes.images.class_names
    for n in range(60):
        label = int(scenes.images.labels[n])
        classes = scenes.masks[n].unique().tolist()
        assert label in classes and len(classes) == 2  # background photograph + another one in the shape
        assert (scenes.masks[n] == label).float().mean() > 0.5  # the background covers most of the image
    shape_area = (scenes.masks != scenes.images.labels.view(-1, 1, 1)).float().mean()
    assert 0.15 < shape_area < 0.4
    again = texture_scenes(count=60, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.images.images, scenes.images.images) and torch.equal(again.masks, scenes.masks)
    with pytest.raises(ValueError, match="at least 2 photos"):
        texture_scenes(count=4, photos=("brick",))


def test_cell_targets_are_class_fractions():
    masks = torch.zeros(1, 4, 4, dtype=torch.int64)
    masks[0, :2, :2] = 2
    masks[0, 0, 2] = 1
    t = cell_targets(masks, 3, 2, 2)
    assert t.shape == (1, 3, 2, 2) and torch.allclose(t.sum(1), torch.ones(1, 2, 2))
    assert float(t[0, 2, 0, 0]) == 1.0 and float(t[0, 1, 0, 1]) == 0.25


def test_iou_scores_known_confusion():
    confusion = torch.tensor([[8, 2], [1, 4]])  # rows: truth, columns: prediction
    scores = iou_scores(confusion)
    assert scores["class_iou"] == pytest.approx([8 / 11, 4 / 7])
    assert scores["miou"] == pytest.approx((8 / 11 + 4 / 7) / 2)
    assert scores["pixel_acc"] == pytest.approx(12 / 15) and scores["foreground_iou"] == pytest.approx(4 / 7)


def test_probe_on_oracle_and_on_noise(scenes):
    train, test = scenes.split(0.25, torch.Generator().manual_seed(1))
    # oracle features: the class fractions of 2 x 2 pixel cells -> near-perfect after upsampling
    oracle = lambda s: cell_targets(s.masks, 11, 16, 16)  # noqa: E731
    good = linear_segmentation_miou(oracle(train), train.masks, oracle(test), test.masks, 11, iterations=50)
    assert good["miou"] > 0.85 and good["pixel_acc"] > 0.97
    noise = lambda s: torch.randn(len(s), 8, 8, 8, generator=torch.Generator().manual_seed(len(s)))  # noqa: E731
    bad = linear_segmentation_miou(noise(train), train.masks, noise(test), test.masks, 11, iterations=20)
    assert bad["miou"] < 0.2 and len(bad["class_iou"]) == 11
    with pytest.raises(ValueError, match="mask values"):
        linear_segmentation_miou(noise(train), train.masks + 11, noise(test), test.masks, 11)


def test_encoder_maps_run_frozen_and_restore_mode():
    encoder = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4))
    encoder.train()
    maps = encoder_maps(encoder, torch.rand(10, 3, 16, 16), batch_size=3)
    assert maps.shape == (10, 4, 8, 8) and not maps.requires_grad
    assert encoder.training and encoder[1].training
    with pytest.raises(ValueError, match="local encoder"):
        encoder_maps(lambda x: x.mean((2, 3)), torch.rand(2, 3, 4, 4))
    assert F.adaptive_avg_pool2d(maps, 1).shape == (10, 4, 1, 1)
