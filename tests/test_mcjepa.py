"""MC-JEPA: moving-digit video with exact flow, warping, correlation, the flow losses, the classical
baseline, the end-point error, the method, and a CLI smoke run."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hjepa.cli import main
from hjepa.data.moving_digits import moving_digits, render_flow_pairs, translate
from hjepa.eval.flow import end_point_error, lucas_kanade
from hjepa.nn.convnet import SmallConvNet
from hjepa.nn.flow import FlowEstimator, in_bounds, local_correlation, warp
from hjepa.objectives.flow import feature_reconstruction_loss, photometric_loss, smoothness_loss
from hjepa.ssl.build import build_method
from hjepa.ssl.feature_pyramid import feature_pyramid, pyramid_channels
from hjepa.ssl.flow_eval import flow_measures
from hjepa.ssl.methods import MCJEPA, MLPBackbone
from hjepa.ssl.view_makers import build_views


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def smooth_image(size: int, shift: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """A smooth pattern ``f(x - shift)``: ``(1, 1, size, size)``; frame 2 of a translation by ``shift``."""
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    x, y = xs - shift[0], ys - shift[1]
    value = 0.5 + 0.2 * torch.sin(x / 3.1) * torch.cos(y / 4.3) + 0.15 * torch.sin((x + y) / 5.7) \
        + 0.1 * torch.cos(x / 2.3 - y / 6.1)
    return value.view(1, 1, size, size)


# ------------------------------------------------------------------------------- warping
def test_warp_with_a_constant_flow_is_a_roll():
    x = torch.rand(2, 3, 12, 12, generator=gen(0))
    for dx, dy in [(2, 0), (0, -3), (1, 2), (-2, -1)]:
        flow = torch.tensor([float(dx), float(dy)]).view(1, 2, 1, 1).expand(2, 2, 12, 12)
        rolled = torch.roll(x, shifts=(-dy, -dx), dims=(2, 3))
        inside = (slice(None), slice(None), slice(max(0, -dy), 12 - max(0, dy)), slice(max(0, -dx), 12 - max(0, dx)))
        torch.testing.assert_close(warp(x, flow)[inside], rolled[inside], atol=1e-5, rtol=0)
        mask = in_bounds(flow)
        assert mask[0, 0].sum() == (12 - abs(dx)) * (12 - abs(dy))
    half = torch.full((1, 2, 12, 12), 0.5)
    torch.testing.assert_close(warp(x[:1], half)[..., :-1, :-1],
                               0.25 * (x[:1, :, :-1, :-1] + x[:1, :, 1:, :-1] + x[:1, :, :-1, 1:] + x[:1, :, 1:, 1:]))
    with pytest.raises(ValueError, match=r"flow \(B, 2, h, w\)"):
        warp(x, torch.zeros(2, 2, 6, 6))


def test_local_correlation_finds_the_shift():
    f1 = torch.nn.functional.normalize(torch.randn(1, 64, 9, 9, generator=gen(0)), dim=1)  # unit vectors: a match scores 1 / C
    f2 = torch.roll(f1, shifts=(1, -2), dims=(2, 3))  # f2(p + (dx=-2, dy=1)) = f1(p)
    corr = local_correlation(f1, f2, radius=2)
    assert corr.shape == (1, 25, 9, 9)
    best = corr[0, :, 3:6, 3:6].argmax(dim=0)
    assert (best == (1 + 2) * 5 + (-2 + 2)).all()  # row-major index of (dy=1, dx=-2)
    torch.testing.assert_close(corr[0, 12], (f1[0] * f2[0]).mean(dim=0))  # displacement (0, 0)


# ------------------------------------------------------------------------------- video
def test_moving_digits_flow_is_the_recorded_motion():
    digits = torch.zeros(3, 1, 16, 16)
    digits[:, :, 5:11, 6:10] = 1.0  # a solid block: every digit pixel is fully opaque
    textures = torch.rand(3, 1, 32, 32, generator=gen(0))
    o = torch.tensor([[8.0, 8.0], [10.0, 6.0], [9.0, 9.0]])
    p = torch.tensor([[0.0, 0.0], [2.0, -1.0], [-2.0, 1.0]])
    v_bg = torch.tensor([[1.0, 0.0], [-2.0, 1.0], [0.0, -1.0]])
    v_fg = torch.tensor([[-2.0, 1.0], [3.0, 0.0], [1.0, 2.0]])
    pairs = render_flow_pairs(digits, textures, o, p, v_bg, v_fg, contrast=0.6)
    assert pairs.frames1.shape == (3, 1, 16, 16) and pairs.mask.sum() == 3 * 24
    torch.testing.assert_close(pairs.flow[:, :, pairs.mask[0]][0], v_fg[0].view(2, 1).expand(2, 24))
    # frame2(x + flow(x)) == frame1(x) wherever the pixel is visible in both frames
    reconstructed = warp(pairs.frames2, pairs.flow)
    alpha2_at_target = warp(translate(digits, -(p + v_fg), 16), pairs.flow)
    visible = pairs.mask.unsqueeze(1) | (alpha2_at_target == 0)
    visible &= in_bounds(pairs.flow) > 0
    assert visible.float().mean() > 0.6
    torch.testing.assert_close(reconstructed[visible], pairs.frames1[visible], atol=1e-5, rtol=0)
    assert (reconstructed - pairs.frames1).abs().max() > 0.05  # occlusions exist and are not "visible"


def test_moving_digits_are_deterministic():
    digits = torch.rand(4, 1, 16, 16, generator=gen(1))
    a, b = moving_digits(digits, generator=gen(3)), moving_digits(digits, generator=gen(3))
    assert torch.equal(a.frames2, b.frames2) and torch.equal(a.flow, b.flow)
    assert a.flow.abs().max() <= 3.0 + 1e-6
    with pytest.raises(ValueError, match="size / 2"):
        moving_digits(digits, max_background_speed=8.0)
    with pytest.raises(ValueError, match="grey square"):
        moving_digits(torch.rand(2, 3, 16, 16))


# ------------------------------------------------------------------------------- metric and baseline
def test_end_point_error_by_hand():
    true = torch.zeros(1, 2, 2, 2)
    true[0, 0] = 3.0
    true[0, 1] = 4.0
    assert float(end_point_error(torch.zeros_like(true), true)) == pytest.approx(5.0)
    estimate = true.clone()
    estimate[0, :, 0, 0] = torch.tensor([0.0, 0.0])  # one pixel off by 5, the other three exact
    assert float(end_point_error(estimate, true)) == pytest.approx(1.25)
    mask = torch.tensor([[[True, False], [False, False]]])
    assert float(end_point_error(estimate, true, mask)) == pytest.approx(5.0)
    assert float(end_point_error(estimate, true, ~mask)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="NaN"):
        end_point_error(estimate * float("nan"), true)
    with pytest.raises(ValueError, match="mask"):
        end_point_error(estimate, true, mask.float())


@pytest.mark.parametrize("shift, tolerance", [((2.0, -1.0), 0.03), ((1.7, 2.4), 0.1)])
def test_lucas_kanade_recovers_a_translation(shift, tolerance):
    frame1, frame2 = smooth_image(48), smooth_image(48, shift)
    flow = lucas_kanade(frame1, frame2, levels=3, iterations=5, window_sigma=2.5)
    interior = flow[0, :, 12:-12, 12:-12]  # away from the pixels that leave the frame
    truth = torch.tensor(shift).view(2, 1, 1)
    # sub-pixel shifts keep a small bias: frame 2 is resampled bilinearly at every iteration
    assert (interior - truth).norm(dim=0).mean() < tolerance
    assert float(end_point_error(torch.zeros_like(flow), flow * 0 + truth)) == pytest.approx(math.hypot(*shift))
    with pytest.raises(ValueError, match="same shape"):
        lucas_kanade(frame1, frame2[..., :-1])


# ------------------------------------------------------------------------------- losses
def test_flow_losses_vanish_for_the_true_flow():
    frame1, frame2 = smooth_image(24), smooth_image(24, (2.0, 1.0))
    true = torch.tensor([2.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, 24, 24)
    assert float(photometric_loss(frame1, frame2, true, eps=1e-6)) < 1e-4
    assert float(photometric_loss(frame1, frame2, torch.zeros_like(true))) > 0.02
    features = torch.cat([frame1, frame1 ** 2], dim=1)
    moved = torch.cat([frame2, frame2 ** 2], dim=1)
    assert float(feature_reconstruction_loss(features, moved, true)) < 1e-9
    assert float(smoothness_loss(true.clone(), frame1)) == 0.0
    ramp = torch.zeros(1, 2, 4, 4)
    ramp[0, 0] = torch.arange(4.0).view(1, 4)  # dx grows by 1 per column, flat image: weight 1
    assert float(smoothness_loss(ramp, torch.zeros(1, 1, 4, 4))) == pytest.approx(0.5)


# ------------------------------------------------------------------------------- pyramid and method
def test_feature_pyramid_levels_and_estimator_shapes():
    net = SmallConvNet(1, (4, 8, 16)).eval()
    x = torch.rand(2, 1, 28, 28, generator=gen(0))
    levels = feature_pyramid(net, x)
    assert [tuple(t.shape[1:]) for t in levels] == [(4, 28, 28), (4, 14, 14), (8, 7, 7), (16, 4, 4)]
    assert pyramid_channels(net) == [4, 4, 8, 16]
    torch.testing.assert_close(levels[-1].mean(dim=(2, 3)), net(x))  # one pass: pyramid and pooled features
    estimator = FlowEstimator([16, 8, 4])
    flows = estimator(levels[::-1][:3], levels[::-1][:3], 28)
    assert [tuple(f.shape) for f in flows] == [(2, 2, 4, 4), (2, 2, 7, 7), (2, 2, 14, 14)]
    assert all(float(f.detach().abs().max()) == 0.0 for f in flows)  # zero-initialised heads: the zero flow
    with pytest.raises(ValueError, match="SmallConvNet"):
        feature_pyramid(torch.nn.Linear(2, 2), torch.rand(1, 1, 8, 8))


def small_mcjepa() -> MCJEPA:
    torch.manual_seed(0)
    return build_method("mc-jepa", lambda: SmallConvNet(1, (4, 8, 16)), 1, 28, projector_dim=16)


def test_mcjepa_forward_terms_and_gradients():
    method = small_mcjepa()
    views = build_views("mc-jepa", 28, 1)(torch.rand(8, 1, 28, 28, generator=gen(0)), gen(1))
    assert [tuple(v.shape) for v in views][2:] == [(8, 1, 28, 28), (8, 1, 28, 28), (8, 2, 28, 28)]
    out = method(views)
    expected = {"invariance", "content", "flow", "photometric", "feature", "smoothness", "pyramid_vc", "epe"}
    assert expected <= set(out.terms)
    # at initialisation the flow is zero, so the logged error is the zero-flow baseline's
    assert float(out.terms["epe"]) == pytest.approx(float(end_point_error(torch.zeros_like(views[4]), views[4])))
    out.loss.backward()
    assert method.estimator.levels[-1].head[-1].weight.grad.abs().sum() > 0
    assert method.backbone.features[0][0].weight.grad.abs().sum() > 0
    assert method.estimate_flow(views[2], views[3]).shape == (8, 2, 28, 28)


def test_mcjepa_estimates_flow_down_to_full_resolution_by_default():
    """Every pyramid level by default, so the finest flow has one vector per pixel (a coarser finest
    level lets the digit's motion spread into the background next to it)."""
    method = MCJEPA(SmallConvNet(1, (4, 8, 16)), (8,))
    assert method.flow_levels == len(pyramid_channels(method.backbone))
    flows, _, _ = method.flows(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28))
    assert [tuple(f.shape[-2:]) for f in flows] == [(4, 4), (7, 7), (14, 14), (28, 28)]


def test_mcjepa_rejects_bad_input():
    method = small_mcjepa()
    views = build_views("mc-jepa", 28, 1)(torch.rand(4, 1, 28, 28), gen(0))
    with pytest.raises(ValueError, match="true_flow"):
        method(views[:4] + [torch.zeros(4, 2, 14, 14)])
    with pytest.raises(ValueError, match="SmallConvNet"):
        MCJEPA(MLPBackbone(4, 8, 8), (8,))
    with pytest.raises(ValueError, match="flow_levels"):
        MCJEPA(SmallConvNet(1, (4, 8, 16)), (8,), flow_levels=9)
    with pytest.raises(ValueError, match="one-channel"):
        build_views("mc-jepa", 32, 3)


def test_flow_measures_on_a_tiny_split():
    from hjepa.data.images import ImageDataset

    test = ImageDataset((torch.rand(6, 1, 16, 16) * 255).to(torch.uint8), torch.zeros(6, dtype=torch.int64), 10, "t")
    torch.manual_seed(0)
    method = build_method("mc-jepa", lambda: SmallConvNet(1, (4, 8, 16)), 1, 16, projector_dim=16)
    results = flow_measures(method, test)
    assert results["flow_pairs"] == 6
    assert results["flow_epe"] == pytest.approx(results["zero_flow_epe"])  # an untrained estimator: zero flow
    assert results["lucas_kanade_epe"] >= 0 and math.isfinite(results["flow_epe_background"])


def test_mcjepa_from_the_command_line(tmp_path):
    tiny = ["--dataset", "digits", "--width", "4", "--projector-dim", "16", "--steps", "3", "--batch-size", "16",
            "--warmup-steps", "1", "--rank-images", "64", "--eval-images", "32", "--precision", "fp32",
            "--checkpoint-every", "0", "--no-progress", "--runs-root", str(tmp_path), "--threads", "1"]
    assert main(["ssl", "train", "--name", "mc", "--method", "mc-jepa", *tiny]) == 0
    summary = json.loads((tmp_path / "mc/summary.json").read_text())
    assert summary["method"] == "mc-jepa" and summary["flow_pairs"] == 32
    assert {"flow_epe", "zero_flow_epe_digit", "lucas_kanade_epe_background", "linear_acc"} <= set(summary)
    metrics = [json.loads(line) for line in (tmp_path / "mc/metrics.jsonl").read_text().splitlines()]
    assert "loss/epe" in metrics[0]
    assert main(["ssl", "eval", "--checkpoint", str(tmp_path / "mc/checkpoints/last.pt"), "--name", "ev",
                 "--runs-root", str(tmp_path)]) == 0
    evaluated = json.loads((tmp_path / "ev/summary.json").read_text())
    assert evaluated["flow_epe"] == pytest.approx(summary["flow_epe"], abs=1e-6)
