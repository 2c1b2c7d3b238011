"""VICRegL: crop boxes, feature maps, local matching on known cases, the loss, a training smoke run."""

from __future__ import annotations

import pytest
import torch

from hjepa.nn.convnet import SmallConvNet
from hjepa.nn.resnet import resnet18
from hjepa.nn.vit import ViT
from hjepa.objectives.local import (
    feature_matches,
    local_covariance,
    local_variance,
    local_vicreg_loss,
    location_matches,
    nearest_matches,
)
from hjepa.ssl.boxed_views import BoxedViews, box_points, crop_boxes, flip_boxes, sample_boxes
from hjepa.ssl.build import build_method
from hjepa.ssl.config import SSLTrainConfig
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.feature_maps import FeatureMapEncoder, feature_map
from hjepa.ssl.methods import MLPBackbone, VICRegL
from hjepa.ssl.trainer import train_ssl
from hjepa.ssl.view_makers import build_views
from hjepa.ssl.views import byol_views, digit_views


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def one_row_points(box: tuple[float, float, float, float], cells: int = 4) -> torch.Tensor:
    return box_points(torch.tensor([box]), 1, cells)


# ------------------------------------------------------------------------------- boxes and views
def test_sample_boxes_follow_scale_and_stay_inside():
    boxes = sample_boxes(500, 28, 28, (0.3, 0.6), (3 / 4, 4 / 3), gen(0))
    assert boxes.shape == (500, 4)
    assert (boxes >= 0).all() and (boxes <= 1 + 1e-6).all() and (boxes[:, 2] > boxes[:, 0]).all()
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    assert area.min() >= 0.3 - 1e-4 and area.max() <= 0.6 + 1e-4


def test_crop_boxes_identity_flip_and_points():
    images = torch.rand(2, 3, 8, 8, generator=gen(0))
    full = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 2)
    assert torch.allclose(crop_boxes(images, full, 8), images, atol=1e-6)
    mirrored = flip_boxes(full, 1.0, gen(0))
    assert torch.equal(mirrored[0], torch.tensor([1.0, 0.0, 0.0, 1.0]))
    assert torch.allclose(crop_boxes(images, mirrored, 8), images.flip(-1), atol=1e-6)
    # top-left quarter at the same resolution as its 4x4 pixels: an exact copy
    quarter = torch.tensor([[0.0, 0.0, 0.5, 0.5]] * 2)
    assert torch.allclose(crop_boxes(images, quarter, 4), images[:, :, :4, :4], atol=1e-6)
    points = box_points(quarter[:1], 2, 2)  # cell centres in image coordinates
    assert torch.allclose(points[0], torch.tensor([[0.125, 0.125], [0.375, 0.125], [0.125, 0.375], [0.375, 0.375]]))


def test_boxed_views_shapes_and_repeatability():
    images = torch.rand(6, 1, 28, 28)
    a = BoxedViews(digit_views(28))(images, gen(1))
    b = BoxedViews(digit_views(28))(images, gen(1))
    assert [tuple(v.shape) for v in a] == [(6, 1, 28, 28), (6, 1, 28, 28), (6, 4), (6, 4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert (a[2][:, 2] > a[2][:, 0]).all()  # digit views never flip
    flipped = BoxedViews(byol_views(32))(torch.rand(64, 3, 32, 32), gen(2))[2]
    assert (flipped[:, 2] < flipped[:, 0]).any() and (flipped[:, 2] > flipped[:, 0]).any()


@pytest.mark.parametrize("backbone", [SmallConvNet(1, (4, 8)), resnet18(1, 4), ViT(28, 4, 1, 16, 1, 4)],
                         ids=["convnet", "resnet18", "vit"])
def test_feature_map_pools_to_the_backbone_output(backbone):
    backbone.eval()
    x = torch.rand(3, 1, 28, 28)
    fmap = feature_map(backbone, x)
    assert fmap.dim() == 4 and fmap.shape[:2] == (3, backbone.out_dim)
    assert torch.allclose(fmap.mean(dim=(2, 3)), backbone(x), atol=1e-5)
    assert torch.equal(FeatureMapEncoder(backbone)(x), fmap)
    with pytest.raises(ValueError, match="no feature map"):
        feature_map(MLPBackbone(4, 4, 4), torch.rand(2, 4))


# ------------------------------------------------------------------------------- matching, known answers
def test_location_matching_on_a_shifted_crop():
    a = one_row_points((0.0, 0.0, 1.0, 1.0))  # cell centres x = .125 .375 .625 .875
    b = one_row_points((0.25, 0.0, 1.25, 1.0))  # shifted by one cell: .375 .625 .875 1.125
    index_a, index_b = location_matches(a, b, 3)
    assert sorted(zip(index_a[0].tolist(), index_b[0].tolist())) == [(1, 0), (2, 1), (3, 2)]
    mirrored = one_row_points((1.0, 0.0, 0.0, 1.0))  # flipped view: cell j looks at cell 3 - j
    index_a, index_b = location_matches(a, mirrored, 4)
    assert sorted(zip(index_a[0].tolist(), index_b[0].tolist())) == [(0, 3), (1, 2), (2, 1), (3, 0)]


def test_feature_matching_recovers_a_permutation():
    z_a = torch.randn(2, 6, 5, generator=gen(0))
    order = torch.tensor([4, 2, 0, 5, 1, 3])
    z_b = z_a[:, order] + 0.01 * torch.randn(2, 6, 5, generator=gen(1))
    index_a, index_b = feature_matches(z_a, z_b, 6)
    for n in range(2):
        assert torch.equal(order[index_b[n]], index_a[n])  # z_b[j] is z_a[order[j]]
    with pytest.raises(ValueError, match="num_matches"):
        nearest_matches(torch.rand(1, 3, 3), 4)


def test_local_terms_known_values():
    z = torch.randn(8, 5, 4, generator=gen(0))
    points = torch.rand(8, 5, 2, generator=gen(1))
    terms = local_vicreg_loss(z, z, points, points, num_matches=5)
    assert float(terms.location) == 0.0 and float(terms.feature) == 0.0
    assert float(terms.total) == pytest.approx(float(25 * terms.variance + terms.covariance))
    constant = torch.ones(8, 5, 4)
    assert float(local_variance(constant)) == pytest.approx(1 - 1e-2, abs=1e-6)  # std sqrt(eps) = 0.01
    # one location, two perfectly correlated dimensions of variance 1: C = [[1, 1], [1, 1]]
    u = torch.tensor([-1.0, 1.0]).repeat(4)
    correlated = torch.stack([u, u], dim=1).view(8, 1, 2) * (7 / 8) ** 0.5
    assert float(local_covariance(correlated)) == pytest.approx(1.0, rel=1e-5)  # 2 * 1^2 / 2


# ------------------------------------------------------------------------------- the method
@pytest.mark.parametrize("alpha", [0.75, 0.9])
def test_vicregl_loss_weights_global_and_local(alpha):
    torch.manual_seed(0)
    model = VICRegL(SmallConvNet(1, (4, 8, 16)), (32, 32), (16, 16), alpha=alpha)
    views = BoxedViews(digit_views(28))(torch.rand(8, 1, 28, 28), gen(0))
    out = model(views)
    expected = alpha * out.terms["global"] + (1 - alpha) * out.terms["local"]
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert out.features.shape == (8, 16) and out.embeddings.shape == (8, 32)
    out.loss.backward()
    assert model.local_projector[0].weight.grad.abs().sum() > 0


def test_vicregl_builds_and_checks_inputs():
    model = build_method("vicregl-alpha0.9", lambda: ViT(28, 4, 1, 16, 1, 4), 1, 28, 32)
    assert isinstance(model, VICRegL) and model.alpha == 0.9
    assert build_method("vicregl", lambda: SmallConvNet(1, (4, 8)), 1, 28, 32).alpha == 0.75
    views = build_views("vicregl", 28, 1)(torch.rand(4, 1, 28, 28), gen(0))
    model(views)
    with pytest.raises(ValueError, match="crop boxes"):
        model([views[0], views[1], views[2][:, :2], views[3]])
    with pytest.raises(ValueError, match="feature map"):
        VICRegL(MLPBackbone(4, 4, 4))
    with pytest.raises(ValueError, match="alpha"):
        VICRegL(SmallConvNet(1, (4,)), alpha=1.5)


def test_train_smoke():
    config = SSLTrainConfig(
        method="vicregl", dataset="digits", backbone="convnet", width=4, projector_dim=16, steps=3,
        batch_size=16, warmup_steps=1, log_every=1, rank_images=64, precision="fp32", progress=False,
        checkpoint_every=0,
    )
    train, test = load_ssl_data("digits", None, config.test_fraction)
    summary = train_ssl(config, data=(train.subset(torch.arange(200)), test.subset(torch.arange(100))))
    assert summary["method"] == "vicregl" and summary["steps"] == 3 and 0.0 <= summary["knn_acc"] <= 1.0
