"""I-JEPA and its pixel variant: multi-block masks, predictor, EMA target, training smoke run."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from hjepa.nn.convnet import SmallConvNet
from hjepa.nn.vit import ViT
from hjepa.objectives.vicreg import vc_regularizer
from hjepa.runs.run_dir import RunDir
from hjepa.ssl.build import build_method, ijepa_predictor_dim
from hjepa.ssl.config import SSLTrainConfig
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.masks import MaskedViews, MultiBlockMasks, block_size
from hjepa.ssl.methods import IJEPA, MaskedPixelPrediction, MaskedTokenPredictor
from hjepa.ssl.methods.mae import patchify
from hjepa.ssl.trainer import train_ssl
from hjepa.ssl.view_makers import build_views

GRID = 7


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny_vit(dim: int = 16) -> ViT:
    return ViT(28, 4, 1, dim=dim, depth=1, heads=4)


def masked_batch(batch: int = 8, seed: int = 0) -> list[torch.Tensor]:
    images = torch.rand(batch, 1, 28, 28, generator=gen(seed))
    return MaskedViews(MultiBlockMasks(GRID))(images, gen(seed + 1))


def as_sets(row: torch.Tensor) -> set[int]:
    return set(row.tolist())


# ------------------------------------------------------------------------------- masks
def test_block_size():
    assert block_size(14, 1.0, 1.0) == (14, 14)
    assert block_size(14, 0.2, 1.0) == (6, 6)  # sqrt(0.2 * 196) = 6.26
    assert block_size(14, 0.15, 1.5) == (7, 4)  # h / w ~ 1.5
    assert block_size(7, 1e-3, 1.0) == (1, 1)  # never empty


def test_masks_counts_scales_and_no_overlap():
    masks = MultiBlockMasks(GRID)
    for seed in range(10):
        made = masks(32, gen(seed))
        b, m, n_tgt = made.targets.shape
        assert (b, m) == (32, 4) and made.context.shape[0] == 32
        assert made.context.dtype == made.targets.dtype == torch.int64
        assert made.context.shape[1] >= masks.min_context
        h_w = [block_size(GRID, s, r) for s in (0.15, 0.2) for r in (0.75, 1.5)]
        assert min(h * w for h, w in h_w) <= n_tgt <= max(h * w for h, w in h_w)
        for n in range(b):
            context = as_sets(made.context[n])
            assert len(context) == made.context.shape[1]  # no repeated patch
            assert made.context[n].tolist() == sorted(context)
            for j in range(m):
                block = made.targets[n, j]
                rows, cols = block // GRID, block % GRID
                # a full rectangle: (rows span) x (cols span) == count
                assert (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) == n_tgt
                assert not context & as_sets(block), "context overlaps a target block"


def test_masks_with_overlap_allowed_keep_the_whole_context_block():
    made = MultiBlockMasks(GRID, remove_targets=False, context_scale=(1.0, 1.0))(8, gen(0))
    assert made.context.shape == (8, GRID * GRID)  # the whole grid, targets included


def test_masks_are_repeatable_and_random():
    masks = MultiBlockMasks(GRID)
    a, b, c = masks(16, gen(3)), masks(16, gen(3)), masks(16, gen(4))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.targets, c.targets) or not torch.equal(a.context, c.context)


def test_masks_bad_settings():
    with pytest.raises(ValueError, match="grid"):
        MultiBlockMasks(1)
    with pytest.raises(ValueError, match="target_scale"):
        MultiBlockMasks(GRID, target_scale=(0.3, 0.2))
    with pytest.raises(ValueError, match="context patches"):
        MultiBlockMasks(2, min_context=4, max_tries=2)(4, gen(0))


def test_masked_views_do_not_augment():
    images = torch.rand(4, 1, 28, 28)
    out = MaskedViews(MultiBlockMasks(GRID))(images, gen(0))
    assert len(out) == 3 and out[0] is images
    assert build_views("ijepa", 28, 1)(images, gen(0))[1].shape == out[1].shape


# ------------------------------------------------------------------------------- predictor and methods
def test_predictor_shapes_and_positions():
    torch.manual_seed(0)
    predictor = MaskedTokenPredictor(GRID, in_dim=16, dim=8, depth=1, heads=4, out_dim=5)
    context = torch.tensor([[0, 1, 2], [3, 4, 5]])
    targets = torch.tensor([[[10, 11], [20, 21]], [[30, 31], [40, 41]]])
    tokens = torch.randn(2, 3, 16)
    out = predictor(tokens, context, targets)
    assert out.shape == (2, 2, 2, 5)
    moved = predictor(tokens, context, targets + 1)
    assert not torch.allclose(out, moved)  # predictions depend on the target positions
    with pytest.raises(ValueError, match="do not fit"):
        predictor(tokens, context[:, :2], targets)


def test_ijepa_needs_a_vit():
    with pytest.raises(ValueError, match="--backbone vit"):
        IJEPA(SmallConvNet(1, (4, 8)))
    with pytest.raises(ValueError, match="--backbone vit"):
        build_method("ijepa-pixels", lambda: SmallConvNet(1, (4, 8)), 1, 28, 16)


def test_ijepa_forward_ema_and_learning():
    torch.manual_seed(0)
    model = IJEPA(tiny_vit(), predictor_dim=8, predictor_depth=1)
    views = masked_batch()
    out = model(views)
    assert out.features.shape == (8, 16) and out.embeddings.shape == (8, 16)
    assert set(out.terms) == {"prediction", "std"}
    assert all(not p.requires_grad for p in model.target.parameters())
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = float(out.loss.detach())
    for step in range(15):
        loss = model(views).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        before = [p.clone() for p in model.target.parameters()]
        model.after_step(step, 100)
        assert any(not torch.equal(a, b) for a, b in zip(before, model.target.parameters()))
    assert float(model(views).loss.detach()) < first
    assert model.momentum(0, 100) == pytest.approx(0.996) and model.momentum(100, 100) == 1.0
    with pytest.raises(ValueError, match="indices"):
        model([views[0], views[1] + 100, views[2]])
    with pytest.raises(ValueError, match="integer patch indices"):
        model([views[0], views[1].float(), views[2]])


def test_ijepa_vc_adds_the_regulariser_of_the_pooled_context():
    torch.manual_seed(0)
    model = IJEPA(tiny_vit(), predictor_dim=8, predictor_depth=1, vc_weight=0.5)
    views = masked_batch()
    out = model(views)
    assert set(out.terms) == {"prediction", "vc", "std"}
    pooled = model.backbone.forward_tokens(views[0], views[1]).mean(dim=1)  # (B, D), the reference
    torch.testing.assert_close(out.terms["vc"], vc_regularizer(pooled).detach())
    torch.testing.assert_close(out.loss.detach(), out.terms["prediction"] + 0.5 * out.terms["vc"])
    built = build_method("ijepa-vc", lambda: tiny_vit(32), 1, 28, 16, vc_weight=0.2)
    assert isinstance(built, IJEPA) and built.vc_weight == 0.2
    assert build_method("ijepa", lambda: tiny_vit(32), 1, 28, 16, vc_weight=0.2).vc_weight == 0.0
    with pytest.raises(ValueError, match="vc_weight"):
        IJEPA(tiny_vit(), predictor_dim=8, vc_weight=-1.0)


def test_patchify_matches_the_vit_patch_order():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    patches = patchify(images, 4)  # (2, 4, 48)
    assert patches.shape == (2, 4, 48)
    # patch 1 = row 0, column 1: pixels [0:4, 4:8]; ordered (row, column, channel)
    assert torch.equal(patches[0, 1].view(4, 4, 3).permute(2, 0, 1), images[0, :, 0:4, 4:8])
    assert torch.equal(patches[1, 2].view(4, 4, 3).permute(2, 0, 1), images[1, :, 4:8, 0:4])


def test_pixel_prediction_learns():
    torch.manual_seed(0)
    model = MaskedPixelPrediction(tiny_vit(), predictor_dim=8, predictor_depth=1)
    views = masked_batch()
    out = model(views)
    assert set(out.terms) == {"reconstruction", "std"} and out.features.shape == (8, 16)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(15):
        loss = model(views).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(model(views).loss.detach()) < float(out.loss.detach())


def test_build_ijepa_sizes():
    assert ijepa_predictor_dim(128) == 64 and ijepa_predictor_dim(16) == 8 and ijepa_predictor_dim(4) == 4
    model = build_method("ijepa", lambda: tiny_vit(32), 1, 28, 16, base_momentum=0.99)
    assert isinstance(model, IJEPA) and model.base_momentum == 0.99
    assert model.predictor.embed.out_features == 16


# ------------------------------------------------------------------------------- smoke run
@pytest.mark.parametrize("method", ["ijepa", "ijepa-vc", "ijepa-pixels"])
def test_train_smoke(tmp_path, method):
    config = SSLTrainConfig(
        method=method, dataset="digits", image_size=28, backbone="vit", width=8, projector_dim=16, steps=3,
        batch_size=16, warmup_steps=1, log_every=1, rank_images=64, precision="fp32", progress=False,
        checkpoint_every=0,
    )
    data = load_ssl_data("digits", None, config.test_fraction, image_size=28)
    small = (data[0].subset(torch.arange(200)), data[1].subset(torch.arange(100)))
    run = RunDir.create(tmp_path, method)
    run.write_config(config.to_dict())
    summary = train_ssl(config, run, data=small)
    stored = json.loads((run.root / "summary.json").read_text())
    assert stored["method"] == method and stored["steps"] == 3 and 0.0 <= summary["linear_acc"] <= 1.0
    again = train_ssl(dataclasses.replace(config, threads=1), data=small)  # same seed, same result
    assert again["linear_acc"] == summary["linear_acc"]
