"""SIE: rendered objects under known transformations, transformation views, the hypernetwork
predictor, the method, the equivariance read-outs, and a CLI smoke run."""

from __future__ import annotations

import colorsys
import json
import math

import pytest
import torch
from torch import Tensor

from hjepa.cli import main
from hjepa.data.transformed_objects import hue_colours, render_objects, rotate_images, transformed_digits
from hjepa.eval.equivariance import mlp_regression_r2, r2_scores, retrieval_metrics, retrieval_ranks
from hjepa.nn.convnet import SmallConvNet
from hjepa.nn.hypernet import HyperPredictor
from hjepa.ssl.augment import _rgb_to_hsv, shift_hue
from hjepa.ssl.build import build_method
from hjepa.ssl.data import SPLIT_SEED
from hjepa.ssl.methods import SIE
from hjepa.ssl.sie_eval import pair_r2, sie_measures
from hjepa.ssl.transform_views import (
    HUE_COLUMNS,
    IDENTITY_PARAMS,
    PARAM_DIM,
    ROTATION_COLUMNS,
    TransformViews,
    transform_params,
)
from hjepa.ssl.view_makers import build_views


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def objects():
    return transformed_digits(count=300, generator=gen(0))


# ------------------------------------------------------------------------------- rendering
def test_rotation_by_a_quarter_turn_is_rot90():
    x = torch.rand(3, 3, 10, 10, generator=gen(0))
    quarter = rotate_images(x, torch.full((3,), math.pi / 2))
    torch.testing.assert_close(quarter, torch.rot90(x, 1, (-2, -1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(rotate_images(x, torch.zeros(3)), x, atol=1e-6, rtol=0)


def test_rendering_records_its_angle_and_hue():
    shapes = torch.rand(4, 1, 28, 28, generator=gen(1))
    hues = torch.tensor([0.0, 0.2, 0.55, 0.9])
    upright = render_objects(shapes, torch.zeros(4), hues, 32)
    turned = render_objects(shapes, torch.full((4,), math.pi / 2), hues, 32)
    torch.testing.assert_close(turned, torch.rot90(upright, 1, (-2, -1)), atol=1e-5, rtol=0)
    # angle 0: the shape pasted unchanged in the middle of the canvas, times its colour
    colour = torch.tensor([colorsys.hsv_to_rgb(float(h), 1.0, 1.0) for h in hues])
    torch.testing.assert_close(hue_colours(hues), colour, atol=1e-6, rtol=0)
    torch.testing.assert_close(upright[:, :, 2:30, 2:30], shapes * colour.view(4, 3, 1, 1), atol=1e-5, rtol=0)
    assert upright[:, :, :2].abs().max() == 0  # black border
    hue, _, value = _rgb_to_hsv(upright)
    for i in range(4):
        lit = value[i] > 0.2
        assert torch.allclose(hue[i][lit], hues[i].expand(int(lit.sum())), atol=1e-3)


def test_transformed_digits_are_deterministic_and_split_with_their_parameters(objects):
    again = transformed_digits(count=300, generator=gen(0))
    assert torch.equal(objects.images.images, again.images.images) and torch.equal(objects.angles, again.angles)
    assert objects.images.images.shape == (300, 3, 32, 32)
    assert objects.angles.abs().max() <= math.pi / 2 and 0 <= objects.hues.min() and objects.hues.max() < 1
    train, test = objects.split(0.2, gen(SPLIT_SEED))
    _, plain_test = objects.images.split(0.2, gen(SPLIT_SEED))
    assert torch.equal(test.images.images, plain_test.images) and len(train) + len(test) == 300
    train_idx, test_idx = objects.images.split_indices(0.2, gen(SPLIT_SEED))
    assert torch.equal(test.angles, objects.angles[test_idx]) and torch.equal(train.hues, objects.hues[train_idx])
    targets = objects.targets()
    assert torch.allclose(torch.atan2(targets["rotation"][:, 1], targets["rotation"][:, 0]), objects.angles, atol=1e-5)


def test_rendering_rejects_bad_input():
    with pytest.raises(ValueError, match="one value per image"):
        rotate_images(torch.rand(2, 3, 8, 8), torch.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        render_objects(torch.rand(1, 1, 28, 28), torch.tensor([float("nan")]), torch.zeros(1), 32)
    with pytest.raises(ValueError, match="h <= size"):
        render_objects(torch.rand(1, 1, 28, 28), torch.zeros(1), torch.zeros(1), 20)
    with pytest.raises(ValueError, match="count"):
        transformed_digits(count=0)


# ------------------------------------------------------------------------------- views
def test_views_follow_the_recorded_relative_transformation(objects):
    images = objects.images.float_images(slice(0, 16))
    hue_only = TransformViews(max_angle=0.0)(images, gen(3))
    assert hue_only[2].shape == (16, PARAM_DIM)
    shift = torch.atan2(hue_only[2][:, HUE_COLUMNS][:, 1], hue_only[2][:, HUE_COLUMNS][:, 0]) / (2 * math.pi)
    torch.testing.assert_close(hue_only[1], shift_hue(hue_only[0], shift), atol=2e-5, rtol=0)
    assert torch.allclose(hue_only[2][:, ROTATION_COLUMNS], torch.tensor([1.0, 0.0, 1.0, 0.0]).expand(16, 4))
    rotation_only = TransformViews(max_angle=math.pi / 4, max_hue_shift=0.0)(images, gen(4))
    angle = torch.atan2(rotation_only[2][:, 1], rotation_only[2][:, 0])
    assert angle.abs().max() <= math.pi / 2 + 1e-6  # two views of at most 45 degrees each
    torch.testing.assert_close(rotation_only[2], transform_params(angle, torch.zeros(16)), atol=1e-5, rtol=0)
    # rotating view a by the recorded angle gives view b up to the second interpolation
    residual = (rotate_images(rotation_only[0], angle) - rotation_only[1]).abs().mean()
    wrong = (rotate_images(rotation_only[0], -angle) - rotation_only[1]).abs().mean()
    assert residual < 0.25 * wrong
    still = TransformViews(max_angle=0.0, max_hue_shift=0.0)(images, gen(5))
    torch.testing.assert_close(still[0], images, atol=2e-5, rtol=0)
    assert torch.allclose(still[2], torch.tensor(IDENTITY_PARAMS).expand(16, PARAM_DIM))
    with pytest.raises(ValueError, match="RGB"):
        TransformViews()(torch.rand(2, 1, 8, 8), gen(0))
    with pytest.raises(ValueError, match="RGB"):
        build_views("sie", 28, 1)


# ------------------------------------------------------------------------------- predictor
def test_hyper_predictor_shapes_and_identity_at_initialisation():
    predictor = HyperPredictor(dim=6, param_dim=PARAM_DIM, identity_params=IDENTITY_PARAMS)
    z, t = torch.randn(5, 6, generator=gen(0)), torch.randn(5, PARAM_DIM, generator=gen(1))
    assert predictor(z, t).shape == (5, 6) and predictor.weights(t).shape == (5, 6, 6)
    identity = torch.tensor(IDENTITY_PARAMS).expand(5, PARAM_DIM)
    torch.testing.assert_close(predictor(z, identity), z)  # W(t0) = I at initialisation
    # W(t) = (t . t0) / |t0|^2 I: a quarter turn without hue shift, t = (0, 1, -1, 0, 1, 0), has
    # t . t0 = 0 and maps everything to 0
    quarter = transform_params(torch.tensor([math.pi / 2]), torch.tensor([0.0])).expand(5, PARAM_DIM)
    torch.testing.assert_close(predictor(z, quarter), torch.zeros(5, 6))
    # linear in t: W(t + s) = W(t) + W(s), W(2 t) = 2 W(t) (no bias: the identity is not built in)
    s = torch.randn(5, PARAM_DIM, generator=gen(2))
    with torch.no_grad():
        predictor.maps.add_(torch.randn(predictor.maps.shape, generator=gen(3)))
    torch.testing.assert_close(predictor.weights(t + s), predictor.weights(t) + predictor.weights(s))
    torch.testing.assert_close(predictor(z, 2 * t), 2 * predictor(z, t))
    torch.testing.assert_close(predictor(z, t), torch.bmm(predictor.weights(t), z.unsqueeze(2)).squeeze(2))
    affine = HyperPredictor(dim=6, param_dim=PARAM_DIM, affine=True)
    torch.testing.assert_close(affine(z, t), z)  # the read-out's predictor: W(t) = I for every t at first
    with pytest.raises(ValueError, match=r"\(B, 6\)"):
        predictor(z, torch.zeros(5, 3))
    with pytest.raises(ValueError, match="identity_params"):
        HyperPredictor(6, 4, identity_params=(1.0, 0.0))
    with pytest.raises(ValueError, match="identity_params"):
        HyperPredictor(6, 4)


def test_hyper_predictor_learns_the_action_of_rotation_and_hue():
    # An exactly equivariant embedding: 2 dims turned by the rotation, 2 by the hue shift, so
    # z_b = diag(R(angle), R(2 pi hue)) z_a, which is linear in (cos, sin) of both: the fit is exact.
    predictor = HyperPredictor(dim=4, param_dim=PARAM_DIM, identity_params=IDENTITY_PARAMS)
    optimizer = torch.optim.Adam(predictor.parameters(), lr=1e-2)
    g = gen(0)

    def turn(v: Tensor, c: Tensor, s: Tensor) -> Tensor:
        return torch.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], dim=1)

    for _ in range(400):
        t = transform_params((torch.rand(128, generator=g) * 2 - 1) * math.pi, torch.rand(128, generator=g))
        z = torch.randn(128, 4, generator=g)
        hue = t[:, HUE_COLUMNS]
        target = torch.cat([turn(z[:, :2], t[:, 0], t[:, 1]), turn(z[:, 2:], hue[:, 0], hue[:, 1])], dim=1)
        loss = (predictor(z, t) - target).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss < 1e-3  # from about 0.5 at initialisation
    quarter = transform_params(torch.tensor([math.pi / 2]), torch.tensor([0.0]))  # rotation only
    expected = torch.tensor([[0.0, -1.0, 0, 0], [1.0, 0.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    torch.testing.assert_close(predictor.weights(quarter)[0], expected, atol=0.05, rtol=0)
    identity = torch.tensor([IDENTITY_PARAMS])
    torch.testing.assert_close(predictor.weights(identity)[0], torch.eye(4), atol=0.05, rtol=0)


def test_an_invariant_equivariant_part_cannot_satisfy_the_predictor():
    # The collapse SIE must avoid: z_eq the same for both views, whatever the transformation. A
    # predictor linear in t cannot be the identity for every t, so a best fit (least squares in the
    # maps, computed exactly) leaves a residual: 1 minus the share of a constant that cos a and
    # cos 2a explain (the sines are odd, the hue terms average out over the whole circle), with a the
    # difference of two U(-90, 90) degree angles: E[cos k a] = (sin(k pi / 2) / (k pi / 2))^2, so
    # E cos a = 4 / pi^2, E cos 2a = E cos 4a = 0, E cos a cos 2a = (E cos a + E cos 3a) / 2 = 20 / (9 pi^2),
    # E cos^2 a = E cos^2 2a = 1/2, and the residual is 1 - (4 / pi^2)^2 (1/2) / (1/4 - (20 / (9 pi^2))^2) = 0.59.
    g = gen(0)
    views = TransformViews()
    angle_a, hue_a = views.draw(100_000, g)
    angle_b, hue_b = views.draw(100_000, g)
    t = transform_params(angle_b - angle_a, hue_b - hue_a)  # (N, 6)
    z = torch.randn(100_000, 3, generator=g)
    # predictor(z, t)_k = sum_{i, j} t_i z_j A_i[k, j]: linear in the maps, features t_i z_j
    features = (t.unsqueeze(2) * z.unsqueeze(1)).flatten(1)  # (N, 6 * 3)
    solution = torch.linalg.lstsq(features, z).solution  # (18, 3)
    residual = (features @ solution - z).pow(2).mean() / z.pow(2).mean()
    expected = 1 - (4 / math.pi**2) ** 2 * 0.5 / (0.25 - (20 / (9 * math.pi**2)) ** 2)
    assert abs(float(residual) - expected) < 0.02  # sampling spread over seeds at this N: about +-0.01
    # gradient descent on the predictor of the SIE that `--method sie` trains cannot beat the least
    # squares optimum on the same samples (which is itself near the expected residual)
    predictor = small_sie().predictor
    z, t = torch.randn(4000, predictor.dim, generator=g), t[:4000]
    features = (t.unsqueeze(2) * z.unsqueeze(1)).flatten(1)
    optimum = (features @ torch.linalg.lstsq(features, z).solution - z).pow(2).mean() / z.pow(2).mean()
    assert abs(float(optimum) - expected) < 0.05
    optimizer = torch.optim.Adam(predictor.parameters(), lr=1e-2)
    for _ in range(200):
        loss = (predictor(z, t) - z).pow(2).mean() / z.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) > float(optimum) - 1e-3


# ------------------------------------------------------------------------------- method
def small_sie() -> SIE:
    torch.manual_seed(0)
    return build_method("sie", lambda: SmallConvNet(3, (4, 8, 16)), 3, 32, projector_dim=16)


def test_sie_terms_on_a_known_case():
    method = small_sie()
    views = TransformViews()(torch.rand(8, 3, 32, 32, generator=gen(0)), gen(1))
    out = method(views)
    assert set(out.terms) >= {"invariance", "prediction", "prediction_identity", "variance", "covariance"}
    assert out.features.shape == (8, 16) and out.embeddings.shape == (8, 16 + 16)
    assert float(out.terms["prediction_variance"]) >= 0.0
    same = torch.rand(8, 3, 32, 32, generator=gen(2))
    out = method([same, same, torch.tensor(IDENTITY_PARAMS).expand(8, PARAM_DIM)])
    assert float(out.terms["invariance"]) == 0.0 and float(out.terms["prediction"]) < 1e-12  # W(t0) = 3 x I / 3
    out.loss.backward()
    assert method.predictor.maps.grad is not None and method.predictor.maps.grad.abs().sum() > 0
    assert set(method.encoders()) == {"backbone", "invariant", "equivariant"}
    assert method.encoders()["equivariant"](same).shape == (8, 8)


def test_sie_rejects_bad_input():
    method = small_sie()
    with pytest.raises(ValueError, match="transformation parameters"):
        method([torch.rand(4, 3, 32, 32)] * 2 + [torch.zeros(4, 3)])
    with pytest.raises(ValueError, match="3 views"):
        method([torch.rand(4, 3, 32, 32)] * 2)
    with pytest.raises(ValueError, match="invariant_dim"):
        SIE(SmallConvNet(3, (4, 8, 16)), 16, (8,), (8,), PARAM_DIM, IDENTITY_PARAMS)
    with pytest.raises(ValueError, match=">= 0"):
        SIE(SmallConvNet(3, (4, 8, 16)), 8, (8,), (8,), PARAM_DIM, IDENTITY_PARAMS, pred_weight=-1.0)


# ------------------------------------------------------------------------------- read-outs
def test_r2_and_mlp_probe_against_known_answers():
    y = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    assert r2_scores(y, y).item() == pytest.approx(1.0)
    assert r2_scores(torch.full_like(y, 2.5), y).item() == pytest.approx(0.0)
    assert r2_scores(y + 1, y).item() == pytest.approx(1 - 4 / 5)
    g = gen(0)
    x = torch.randn(600, 8, generator=g)
    target = torch.stack([torch.sin(x[:, 0]), x[:, 1] * x[:, 2]], dim=1)
    groups = {"first": slice(0, 1), "both": slice(0, 2)}
    scores = mlp_regression_r2(x[:400], target[:400], x[400:], target[400:], groups, gen(1))
    assert scores["first"] > 0.9 and scores["both"] > 0.7
    noise = torch.randn(600, 2, generator=g)
    assert mlp_regression_r2(x[:400], noise[:400], x[400:], noise[400:], groups, gen(1))["both"] < 0.1
    with pytest.raises(ValueError, match="NaN"):
        mlp_regression_r2(x[:4] * float("nan"), target[:4], x[4:8], target[4:8], groups, gen(0))


def test_retrieval_ranks_by_hand():
    gallery = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]],
                            [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    predicted = torch.tensor([[0.9, 0.1], [0.6, 0.8]])
    ranks = retrieval_ranks(predicted, gallery, torch.tensor([0, 0]))
    assert ranks.tolist() == [1, 2]  # second query: cos 0.8 to [0, 1] beats 0.6 to the true [1, 0]
    assert retrieval_metrics(ranks) == {"top1": 0.5, "mrr": 0.75}
    tied = retrieval_ranks(torch.tensor([[1.0, 0.0]]), torch.ones(1, 3, 2), torch.tensor([1]))
    assert tied.tolist() == [3]  # a constant gallery counts as a miss, not a hit
    with pytest.raises(ValueError, match="target"):
        retrieval_ranks(predicted, gallery, torch.tensor([0, 3]))


def test_sie_measures_keys_and_ranges(objects):
    train, test = objects.split(0.2, gen(SPLIT_SEED))
    method = small_sie()
    parts = {"backbone": slice(None), "invariant": slice(0, 8), "equivariant": slice(8, None)}
    results = sie_measures(method.backbone, parts, train, test, seed=0, transforms_per_image=4, sie_method=method,
                           fit_images=64)
    for part in parts:
        assert -5.0 < results[f"rotation_r2/{part}"] <= 1.0 and -5.0 < results[f"colour_r2/{part}"] <= 1.0
        for gallery in ("retrieval", "retrieval_rotation"):
            assert 0.0 <= results[f"{gallery}_top1/{part}"] <= 1.0
            assert 0.25 - 1e-6 <= results[f"{gallery}_mrr/{part}"] <= 1.0  # every rank is at most K = 4
    assert 0.0 <= results["retrieval_top1/sie_predictor"] <= 1.0 and results["retrieval_gallery"] == 4
    assert 0.0 <= results["retrieval_rotation_top1/sie_predictor"] <= 1.0
    assert all(-5.0 < results[f"pair_{quantity}_r2/{part}"] <= 1.0 for quantity in ("rotation", "colour") for part in parts)
    with pytest.raises(ValueError, match="transforms_per_image"):
        sie_measures(method.backbone, parts, train, test, seed=0, transforms_per_image=1)



class _ColourAndShape(torch.nn.Module):
    """A hand-built encoder for ``pair_r2``'s known answers: features 0-2 the image's mean colour
    (which a hue shift moves, a rotation about the centre hardly does), feature 3 a constant."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x.mean(dim=(2, 3)), torch.ones(x.shape[0], 1)], dim=1)  # (B, 4)


def test_pair_r2_reads_the_relative_transformation_only_where_features_carry_it(objects):
    train, test = objects.split(0.2, gen(SPLIT_SEED))
    parts = {"colour": slice(0, 3), "constant": slice(3, 4)}
    results = pair_r2(_ColourAndShape(), parts, train.images.float_images(), test.images.float_images(), gen(3))
    # the relative hue shift follows from the two copies' mean colours; nothing follows from a constant
    assert results["pair_colour_r2/colour"] > 0.8
    assert results["pair_colour_r2/constant"] < 0.05 and results["pair_rotation_r2/constant"] < 0.05
    # the mean colour does not change with a rotation, so the relative rotation is not in it
    assert results["pair_rotation_r2/colour"] < 0.1


# ------------------------------------------------------------------------------- command line
def tiny_args(tmp_path) -> list[str]:
    return ["--dataset", "rotated-digits", "--width", "4", "--projector-dim", "16", "--steps", "3", "--batch-size",
            "16", "--warmup-steps", "1", "--rank-images", "64", "--eval-images", "64", "--precision", "fp32",
            "--checkpoint-every", "0", "--no-progress", "--runs-root", str(tmp_path), "--threads", "1"]


def test_sie_from_the_command_line(tmp_path, capsys):
    assert main(["ssl", "train", "--name", "sie", "--method", "sie", *tiny_args(tmp_path)]) == 0
    summary = json.loads((tmp_path / "sie/summary.json").read_text())
    assert summary["method"] == "sie" and set(summary["encoders"]) == {"backbone", "invariant", "equivariant"}
    assert {"rotation_r2/equivariant", "colour_r2/invariant", "retrieval_mrr/sie_predictor"} <= set(summary)
    capsys.readouterr()
    assert main(["ssl", "train", "--name", "grey", "--method", "sie", "--dataset", "digits", "--steps", "1",
                 "--runs-root", str(tmp_path), "--no-progress"]) == 2
    assert "RGB" in capsys.readouterr().err


@pytest.mark.slow
def test_sie_baseline_from_the_command_line(tmp_path):
    assert main(["ssl", "train", "--name", "base", "--method", "sie-vicreg", *tiny_args(tmp_path)]) == 0
    baseline = json.loads((tmp_path / "base/summary.json").read_text())
    assert "rotation_r2/backbone" in baseline and "retrieval_mrr/sie_predictor" not in baseline
