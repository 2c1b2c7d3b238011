"""SSL methods: every name builds, trains one step and reports its terms; ablations; collapse; bad input."""

from __future__ import annotations

import math
import typing

import pytest
import torch
from torch import nn

from hjepa.nn.convnet import SmallConvNet
from hjepa.ssl.build import build_backbone, build_method
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std
from hjepa.ssl.methods import (
    BYOL,
    LeJEPA,
    MLPBackbone,
    SimSiam,
    VICReg,
    VICRegMultiModal,
    VICRegTwoEncoders,
    intensity_profiles,
    profile_dim,
)
from hjepa.ssl.names import BACKBONES, METHODS, MethodName, vit_patch_size
from hjepa.ssl.view_makers import build_views
from hjepa.ssl.views import byol_views, digit_views, lejepa_views, simclr_views, simsiam_views

BATCH, SIZE, PROJ = 16, 28, 32
RGB_METHODS = ("sie", "sie-vicreg")
"""Methods whose views rotate and recolour RGB images (every other one is tested on grey digits)."""


def channels_of(method: str) -> int:
    return 3 if method in RGB_METHODS else 1


def small_convnet(channels: int = 1) -> SmallConvNet:
    return SmallConvNet(channels, widths=(8, 16, 32), convs_per_stage=1)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def digits(batch: int = BATCH, seed: int = 0, channels: int = 1) -> torch.Tensor:
    return torch.rand(batch, channels, SIZE, SIZE, generator=gen(seed))


def build(method: str, **kwargs) -> SSLMethod:
    torch.manual_seed(0)
    if method.startswith("ijepa"):  # encodes a subset of patch tokens: needs a ViT
        return build_method(method, lambda: build_backbone("vit", 1, SIZE, 16), 1, SIZE, PROJ, **kwargs)
    channels = channels_of(method)
    return build_method(method, lambda: small_convnet(channels), channels, SIZE, PROJ, **kwargs)


def views_for(method: str, batch: int = BATCH) -> list[torch.Tensor]:
    channels = channels_of(method)
    return build_views(method, SIZE, channels)(digits(batch, channels=channels), gen(1))


def trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


# ------------------------------------------------------------------------------- every method
def test_methods_tuple_matches_literal():
    assert METHODS == typing.get_args(MethodName)
    assert len(METHODS) == len(set(METHODS)) == 25
    assert BACKBONES == ("convnet", "resnet18", "vit")


@pytest.mark.parametrize("method", METHODS)
def test_forward_backward_step(method):
    model = build(method)
    assert isinstance(model, SSLMethod)
    views = views_for(method)
    assert len(views) == model.num_views
    out = model(views)
    assert isinstance(out, MethodOutput)
    assert out.loss.dim() == 0 and out.loss.requires_grad and torch.isfinite(out.loss)
    assert out.features.shape == (BATCH, model.backbone.out_dim) and not out.features.requires_grad
    assert out.embeddings.dim() == 2 and out.embeddings.shape[0] == BATCH and not out.embeddings.requires_grad
    assert "std" in out.terms
    for name, term in out.terms.items():
        assert term.dim() == 0 and not term.requires_grad and torch.isfinite(term), name

    optimizer = torch.optim.SGD(trainable(model), lr=0.1)
    optimizer.zero_grad()
    out.loss.backward()
    encoders = model.encoders()
    assert encoders["backbone"] is model.backbone
    for name, encoder in encoders.items():
        grads = [p.grad for p in encoder.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), f"no gradient reaches {name}"
    before = [p.detach().clone() for p in model.backbone.parameters()]
    optimizer.step()
    model.after_step(0, 10)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.backbone.parameters()))

    for name, encoder in encoders.items():  # every encoder is evaluated on images
        encoder.eval()
        with torch.no_grad():
            assert encoder(digits(4, channels=channels_of(method))).shape == (4, encoder.out_dim), name


def test_byol_target_is_an_ema_without_gradients():
    model = build("byol")
    assert isinstance(model, BYOL)
    target = model.target_backbone.module
    assert all(not p.requires_grad for p in model.target_backbone.parameters())
    assert all(not p.requires_grad for p in model.target_projector.parameters())
    initial = [p.clone() for p in target.parameters()]
    optimizer = torch.optim.SGD(trainable(model), lr=0.5)
    model(views_for("byol")).loss.backward()
    optimizer.step()
    assert all(p.grad is None for p in model.target_backbone.parameters())
    assert all(torch.equal(a, b) for a, b in zip(initial, target.parameters()))  # unchanged until after_step

    def distance() -> float:
        pairs = zip(target.parameters(), model.backbone.parameters())
        return sum(float((t - o).detach().square().sum()) for t, o in pairs)

    gap = distance()
    assert gap > 0
    model.after_step(0, 100)
    assert any(not torch.equal(a, b) for a, b in zip(initial, target.parameters()))
    assert distance() == pytest.approx((0.996**2) * gap, rel=1e-3)  # moved 0.4 % of the way
    assert model.momentum(0, 100) == pytest.approx(0.996) and model.momentum(100, 100) == pytest.approx(1.0)


# ------------------------------------------------------------------------------- ablations
@pytest.mark.parametrize(
    ("method", "weights"),
    [
        ("vicreg", (25.0, 25.0, 1.0)),
        ("vicreg-inv", (25.0, 0.0, 0.0)),
        ("vicreg-inv-cov", (25.0, 0.0, 1.0)),
        ("vicreg-inv-var", (25.0, 25.0, 0.0)),
    ],
)
def test_vicreg_term_ablation_weights(method, weights):
    model = build(method)
    assert isinstance(model, VICReg)
    out = model(views_for(method))
    assert set(out.terms) == {"invariance", "variance", "covariance", "std"}
    inv, var, cov = (out.terms[k] for k in ("invariance", "variance", "covariance"))
    assert min(float(inv), float(var), float(cov)) > 0  # every term is computed and logged
    expected = weights[0] * inv + weights[1] * var + weights[2] * cov
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_ablation_switches_from_names():
    assert build("byol").predictor is not None
    no_pred = build("byol-no-predictor")
    assert no_pred.predictor is None and no_pred.vc_weight == 0
    assert build("byol-no-predictor-vc", vc_weight=0.1).vc_weight == 0.1
    for name, pred, sg, vc in [
        ("simsiam", True, True, 0.0),
        ("simsiam-no-predictor", False, True, 0.0),
        ("simsiam-no-stopgrad", True, False, 0.0),
        ("simsiam-no-predictor-vc", False, True, 0.04),
        ("simsiam-no-stopgrad-vc", True, False, 0.04),
    ]:
        model = build(name)
        assert isinstance(model, SimSiam)
        assert (model.predictor is not None, model.stop_gradient, model.vc_weight) == (pred, sg, vc), name
    assert "vc" in build("simsiam-no-stopgrad-vc")(views_for("simsiam")).terms
    assert "vc" not in build("simsiam-no-stopgrad")(views_for("simsiam")).terms


def test_two_encoders_share_no_weights():
    model = build("vicreg-two-encoders")
    assert isinstance(model, VICRegTwoEncoders)
    a, b = model.encoders()["backbone"], model.encoders()["backbone_b"]
    assert a is not b and model.projector is not model.projector_b
    assert not {id(p) for p in a.parameters()} & {id(p) for p in b.parameters()}
    with pytest.raises(ValueError, match="distinct"):
        VICRegTwoEncoders(a, a, (8, 8))


def test_multimodal_views_and_profiles():
    model = build("vicreg-multimodal")
    assert isinstance(model, VICRegMultiModal)
    image, profile = views_for("vicreg-multimodal")
    assert image.shape == (BATCH, 1, SIZE, SIZE) and profile.shape == (BATCH, profile_dim(1, SIZE)) == (BATCH, 56)
    x = torch.zeros(2, 3, 4, 5)
    x[:, 1, 2, :] = 1.0  # channel 1, row 2 full
    expected_c1 = torch.tensor([0, 0, 1, 0, 0.25, 0.25, 0.25, 0.25, 0.25])
    torch.testing.assert_close(intensity_profiles(x).view(2, 3, 9)[:, 1], expected_c1.expand(2, 9))
    assert intensity_profiles(x).view(2, 3, 9)[:, [0, 2]].abs().sum() == 0
    with pytest.raises(ValueError, match="profile"):
        model([image, image])  # the second branch wants the profile, not an image


# ------------------------------------------------------------------------------- collapse
def _train_simsiam(stop_gradient: bool, vc_weight: float, steps: int = 30) -> tuple[float, float, float]:
    """A tiny SimSiam on noisy copies of 64 random vectors; returns (initial std, final std, raw std)."""
    torch.manual_seed(0)
    g = gen(0)
    x = torch.randn(64, 16, generator=g)
    model = SimSiam(MLPBackbone(16, 32, 32), (32, 32), 8, stop_gradient=stop_gradient, vc_weight=vc_weight)
    optimizer = torch.optim.SGD(trainable(model), lr=0.05, momentum=0.9)
    stds = []
    for _ in range(steps):
        views = [x + 0.5 * torch.randn(x.shape, generator=g), x + 0.5 * torch.randn(x.shape, generator=g)]
        out = model(views)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        stds.append(float(out.terms["std"]))
    return stds[0], stds[-1], float(out.embeddings.std(dim=0).mean())


def test_simsiam_collapses_without_stop_gradient_and_vc_counters_it():
    start, healthy, _ = _train_simsiam(stop_gradient=True, vc_weight=0.0)
    start_nosg, collapsed, raw_collapsed = _train_simsiam(stop_gradient=False, vc_weight=0.0)
    _, regularised, raw_regularised = _train_simsiam(stop_gradient=False, vc_weight=0.04)
    assert start == start_nosg  # same initialisation and data
    assert healthy > 0.8 * start  # SimSiam proper keeps its spread
    assert collapsed < 0.5 * start  # without stop-gradient the normalised embeddings bunch up
    assert regularised > 1.3 * collapsed  # the variance-covariance term slows that down
    assert raw_regularised > 0.7 > raw_collapsed  # and keeps the per-dimension std near its target 1


def test_collapse_std_extremes():
    assert float(collapse_std(torch.ones(8, 4))) == 0.0
    spread = collapse_std(torch.randn(4000, 64, generator=gen()))
    assert float(spread) == pytest.approx(1 / math.sqrt(64), rel=0.05)


# ------------------------------------------------------------------------------- LeJEPA
def test_lejepa_directions_are_seeded_and_fresh_each_step():
    a, b = build("lejepa", seed=3), build("lejepa", seed=3)
    views = views_for("lejepa")
    a.eval(), b.eval()  # fixed BatchNorm statistics: only the directions can change the loss
    first_a, first_b = a(views), b(views)
    assert float(first_a.loss.detach()) == float(first_b.loss.detach())
    second = a(views)
    assert float(second.terms["prediction"]) == float(first_a.terms["prediction"])
    assert float(second.terms["sigreg"]) != float(first_a.terms["sigreg"])
    assert a.draws == 2 and a.state_dict()["_extra_state"] == {"draws": 2}
    b.load_state_dict(a.state_dict())
    assert float(a(views).loss.detach()) == float(b(views).loss.detach())
    fixed = torch.randn(16, PROJ, generator=gen())
    assert float(a(views, directions=fixed).loss.detach()) == float(a(views, directions=fixed).loss.detach())


def test_lejepa_local_views_may_be_smaller():
    model = LeJEPA(small_convnet(), (16, 8), num_views=3, num_global=1, num_directions=8)
    views = [digits(4), digits(4, seed=1)[..., :14, :14], digits(4, seed=2)[..., :14, :14]]
    out = model(views)
    assert out.features.shape == (4, 32) and out.embeddings.shape == (4, 8)
    with pytest.raises(ValueError, match="local views must have the same shape"):
        model([views[0], views[1], digits(4)])


# ------------------------------------------------------------------------------- views, backbones
def test_build_views_recipes():
    assert build_views("simclr", SIZE, 1).pair == digit_views(SIZE)  # digits: one recipe for all
    assert build_views("lejepa", SIZE, 1, num_views=3).recipe == digit_views(SIZE).first
    assert build_views("vicreg", 32, 3).pair == byol_views(32)
    assert build_views("byol-no-predictor", 32, 3).pair == byol_views(32)
    assert build_views("barlow", 32, 3).pair == byol_views(32)
    assert build_views("simclr", 32, 3).pair == simclr_views(32)
    assert build_views("simsiam-no-stopgrad-vc", 32, 3).pair == simsiam_views(32)
    lejepa = build_views("lejepa", 32, 3, num_views=5)
    assert lejepa.recipe == lejepa_views(32) and lejepa.count == 5
    views = lejepa(torch.rand(2, 3, 32, 32, generator=gen()), gen())
    assert len(views) == 5 and all(v.shape == (2, 3, 32, 32) for v in views)
    assert build_views("simclr", 64, 1).pair == simclr_views(64)  # large grayscale: the paper recipe


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_build_backbone(name, channels, size):
    backbone = build_backbone(name, channels, size, width=8)
    assert backbone(torch.rand(2, channels, size, size)).shape == (2, backbone.out_dim)


def test_vit_patch_size():
    assert [vit_patch_size(s) for s in (28, 32, 64, 96, 224, 30)] == [4, 4, 8, 8, 16, 3]


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("method", ["vicreg", "byol", "lejepa", "vicreg-multimodal"])
def test_wrong_number_of_views(method):
    model = build(method)
    views = views_for(method)
    with pytest.raises(ValueError, match=f"expects {model.num_views} views, got {model.num_views - 1}"):
        model(views[:-1])
    with pytest.raises(ValueError, match=f"expects {model.num_views} views, got {model.num_views + 1}"):
        model([*views, views[0]])
    with pytest.raises(ValueError, match="list"):
        model(torch.stack(views[:1]))


@pytest.mark.parametrize("method", ["simclr", "simsiam", "lejepa", "vicreg-two-encoders"])
def test_mismatched_or_tiny_batches(method):
    model = build(method)
    views = views_for(method)
    with pytest.raises(ValueError, match="same batch"):
        model([views[0][:8], *views[1:]])
    with pytest.raises(ValueError, match="at least 2"):
        model([v[:1] for v in views])


def test_bad_names_and_settings():
    with pytest.raises(ValueError, match="unknown SSL method 'moco'.*vicreg-inv-cov"):
        build("moco")
    with pytest.raises(ValueError, match="unknown SSL method"):
        build_views("moco", SIZE, 1)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        build_views("vicreg", SIZE, 2)
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        build_backbone("vgg", 1, SIZE, None)
    with pytest.raises(ValueError, match="projector_dim"):
        build_method("vicreg", small_convnet, 1, SIZE, 0)
    with pytest.raises(ValueError, match="out_dim"):
        VICReg(nn.Flatten(), (8, 8))
    with pytest.raises(ValueError, match="at least one VICReg weight"):
        VICReg(small_convnet(), (8, 8), 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=">= 0"):
        VICReg(small_convnet(), (8, 8), var_weight=-1.0)
    with pytest.raises(ValueError, match="vc_weight"):
        SimSiam(small_convnet(), (8, 8), 4, vc_weight=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        BYOL(small_convnet(), (8, 8), 8, base_momentum=1.5)
    with pytest.raises(ValueError, match="num_global"):
        LeJEPA(small_convnet(), (8, 8), num_views=2, num_global=3)
    with pytest.raises(ValueError, match="num_views"):
        LeJEPA(small_convnet(), (8, 8), num_views=1, num_global=1)
