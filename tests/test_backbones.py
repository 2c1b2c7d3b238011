"""Image backbones (SmallConvNet, CIFAR ResNet-18, ViT) and SSL heads: shapes, sizes, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hjepa.nn.convnet import SmallConvNet
from hjepa.nn.heads import prediction_head, projector
from hjepa.nn.resnet import resnet18
from hjepa.nn.vit import ViT


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def batch(channels: int, size: int, n: int = 4) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0))


def assert_all_parameters_get_gradients(module: nn.Module, out: torch.Tensor) -> None:
    out.square().mean().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in module.parameters())


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_small_convnet_shapes_and_gradients(channels, size):
    torch.manual_seed(0)
    net = SmallConvNet(channels)
    out = net(batch(channels, size))
    assert out.shape == (4, net.out_dim) and net.out_dim == 128
    assert_all_parameters_get_gradients(net, out)


def test_small_convnet_size_and_options():
    assert 250_000 <= n_params(SmallConvNet(1)) <= 600_000
    assert 250_000 <= n_params(SmallConvNet(3)) <= 600_000
    net = SmallConvNet(3, widths=(8, 16), convs_per_stage=1)
    assert net.out_dim == 16 and net(batch(3, 32)).shape == (4, 16)
    with pytest.raises(ValueError, match="expects"):
        SmallConvNet(3)(batch(1, 28))
    with pytest.raises(ValueError):
        SmallConvNet(3, widths=())


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_resnet18_small_width(channels, size):
    torch.manual_seed(0)
    net = resnet18(in_channels=channels, width=8)
    out = net(batch(channels, size, n=2))
    assert net.out_dim == 64 and out.shape == (2, 64)
    assert_all_parameters_get_gradients(net, out)


def test_resnet18_standard_size():
    net = resnet18()
    assert net.out_dim == 512
    assert 11_100_000 <= n_params(net) <= 11_250_000  # CIFAR ResNet-18 without classifier: 11.17M


def make_vit(channels: int = 3, size: int = 32, patch: int = 8) -> ViT:
    torch.manual_seed(0)
    return ViT(image_size=size, patch_size=patch, in_channels=channels, dim=32, depth=2, heads=4)


@pytest.mark.parametrize("channels, size, patch", [(1, 28, 7), (3, 32, 8)])
def test_vit_shapes_and_gradients(channels, size, patch):
    vit = make_vit(channels, size, patch)
    assert vit.num_patches == 16 and vit.out_dim == 32
    x = batch(channels, size)
    assert vit.forward_tokens(x).shape == (4, 16, 32)
    out = vit(x)
    assert out.shape == (4, 32)
    torch.testing.assert_close(out, vit.forward_tokens(x).mean(1))
    assert_all_parameters_get_gradients(vit, out)


def test_vit_keep_selects_tokens_before_the_encoder():
    vit = make_vit()
    x = batch(3, 32)
    gen = torch.Generator().manual_seed(1)
    full = vit.forward_tokens(x)  # (4, 16, 32)

    # Every patch, in a per-sample random order: same tokens as the full pass, in that order.
    order = torch.stack([torch.randperm(16, generator=gen) for _ in range(4)])
    permuted = vit.forward_tokens(x, keep=order)
    torch.testing.assert_close(permuted, full.gather(1, order.unsqueeze(-1).expand(-1, -1, 32)), atol=1e-5, rtol=1e-4)

    # A subset: kept tokens only see each other, so they differ from the gathered full pass.
    keep = order[:, :5]
    kept = vit.forward_tokens(x, keep=keep)
    assert kept.shape == (4, 5, 32)
    assert not torch.allclose(kept, full.gather(1, keep.unsqueeze(-1).expand(-1, -1, 32)), atol=1e-3)
    # ... and match encoding each kept subset on its own (no leak from dropped patches).
    alone = vit.forward_tokens(x[:1], keep=keep[:1])
    torch.testing.assert_close(kept[:1], alone)


@pytest.mark.parametrize(
    "keep, message",
    [
        (torch.zeros(4, 3), "integer"),
        (torch.zeros(3, 3, dtype=torch.long), "B=4"),
        (torch.full((4, 3), 16), r"\[0, 16\)"),
        (torch.zeros(4, 0, dtype=torch.long), "at least one"),
    ],
)
def test_vit_bad_keep(keep, message):
    with pytest.raises(ValueError, match=message):
        make_vit().forward_tokens(batch(3, 32), keep=keep)


def test_vit_bad_config_and_input():
    with pytest.raises(ValueError, match="multiple"):
        ViT(image_size=30, patch_size=8, in_channels=3, dim=32, depth=1, heads=4)
    with pytest.raises(ValueError, match="divisible"):
        ViT(image_size=32, patch_size=8, in_channels=3, dim=36, depth=1, heads=8)
    with pytest.raises(ValueError, match="expects"):
        make_vit()(batch(3, 28))


def test_heads():
    x = torch.randn(8, 16)
    expander = projector(16, (64, 64, 32))
    assert expander(x).shape == (8, 32)
    assert [type(m) for m in expander] == [nn.Linear, nn.BatchNorm1d, nn.ReLU] * 2 + [nn.Linear]
    byol = projector(16, (64, 8))
    assert byol(x).shape == (8, 8) and len(byol) == 4
    assert isinstance(projector(16, (8,)), nn.Sequential) and projector(16, (8,))(x).shape == (8, 8)
    predictor = prediction_head(8, 32)
    assert predictor(torch.randn(8, 8)).shape == (8, 8)
    assert [type(m) for m in predictor] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    with pytest.raises(ValueError):
        projector(16, ())
    with pytest.raises(ValueError):
        prediction_head(0, 8)
