"""Frozen-feature classification and spectra on problems with known answers."""

import math

import pytest
import torch
from torch import nn

from hjepa.eval.classify import (
    balanced_label_subset,
    extract_features,
    feature_report,
    knn_accuracy,
    linear_probe_accuracy,
    semi_supervised_accuracy,
)
from hjepa.eval.spectrum import plot_spectrum, singular_value_spectrum


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _blobs(n: int, d: int, k: int, spread: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` Gaussian blobs with centres ``spread * e_c`` (separable when spread >> 1)."""
    y = torch.arange(n) % k
    centres = torch.zeros(k, d)
    centres[torch.arange(k), torch.arange(k)] = spread
    return centres[y] + torch.randn(n, d, generator=g), y


def test_separable_blobs_are_classified_perfectly():
    g = _gen(0)
    x, y = _blobs(400, 16, 4, spread=12.0, g=g)
    xt, yt = _blobs(200, 16, 4, spread=12.0, g=g)
    acc = linear_probe_accuracy(x, y, xt, yt, num_classes=4)
    assert acc >= 0.99
    assert linear_probe_accuracy(x, y, xt, yt, num_classes=4) == acc  # deterministic
    assert knn_accuracy(x, y, xt, yt, num_classes=4) >= 0.99
    # 10 labels per class suffice; from 1 label per class the probe is much noisier (0.6-0.85 here).
    assert semi_supervised_accuracy(x, y, xt, yt, 4, label_fraction=0.1, generator=_gen(1)) >= 0.99
    assert 0.25 <= semi_supervised_accuracy(x, y, xt, yt, 4, label_fraction=0.01, generator=_gen(1)) <= 1.0


def test_random_labels_give_chance_accuracy():
    g = _gen(2)
    x, xt = torch.randn(1000, 32, generator=g), torch.randn(1000, 32, generator=g)
    y, yt = torch.randint(0, 5, (1000,), generator=g), torch.randint(0, 5, (1000,), generator=g)
    assert linear_probe_accuracy(x, y, xt, yt, 5) == pytest.approx(0.2, abs=0.06)
    assert knn_accuracy(x, y, xt, yt, 5) == pytest.approx(0.2, abs=0.06)


def test_knn_matches_hand_computed_weighted_vote():
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    test = torch.tensor([[1.0, 0.2]])

    def cos(a, b):
        return sum(p * q for p, q in zip(a, b)) / (math.hypot(*a) * math.hypot(*b))

    sims = [cos([1.0, 0.2], row) for row in train.tolist()]
    for temperature in (0.5, 100.0):
        votes = [0.0, 0.0]
        for s, c in zip(sims, labels.tolist()):  # k = 3: every training row votes
            votes[c] += math.exp(s / temperature)
        expected = max(range(2), key=lambda c: votes[c])
        for guess in (0, 1):
            acc = knn_accuracy(train, labels, test, torch.tensor([guess]), 2, k=3, temperature=temperature)
            assert acc == (1.0 if guess == expected else 0.0)
    # Sharp weights: the single nearest row (class 0) outvotes two further class-1 rows;
    # flat weights: plain majority (class 1).
    assert knn_accuracy(train, labels, test, torch.tensor([0]), 2, k=3, temperature=0.5) == 1.0
    assert knn_accuracy(train, labels, test, torch.tensor([1]), 2, k=3, temperature=100.0) == 1.0
    # k = 1 is the nearest neighbour; k larger than N is clipped.
    assert knn_accuracy(train, labels, test, torch.tensor([0]), 2, k=1) == 1.0
    assert knn_accuracy(train, labels, test, torch.tensor([0]), 2, k=50, temperature=0.5) == 1.0


def test_knn_batches_agree_and_small_temperature_is_finite():
    g = _gen(3)
    x, y = _blobs(300, 8, 3, spread=2.0, g=g)
    xt, yt = _blobs(101, 8, 3, spread=2.0, g=g)
    a = knn_accuracy(x, y, xt, yt, 3, batch_size=7)
    assert a == knn_accuracy(x, y, xt, yt, 3, batch_size=1000)
    assert 0.0 <= knn_accuracy(x, y, xt, yt, 3, temperature=1e-4) <= 1.0


def test_balanced_subset_has_every_class():
    y = torch.cat([torch.zeros(300), torch.ones(20), torch.full((5,), 2), torch.full((50,), 4)]).long()
    idx = balanced_label_subset(y, num_classes=5, label_fraction=0.01, generator=_gen(4))
    assert torch.bincount(y[idx], minlength=5).tolist() == [3, 1, 1, 0, 1]  # class 3 absent
    assert idx.unique().numel() == idx.numel()
    idx10 = balanced_label_subset(y, 5, 0.10, _gen(4))
    assert torch.bincount(y[idx10], minlength=5).tolist() == [30, 2, 1, 0, 5]
    assert torch.equal(idx10, balanced_label_subset(y, 5, 0.10, _gen(4)))
    with pytest.raises(ValueError, match="label_fraction"):
        balanced_label_subset(y, 5, 0.0, _gen(4))


def test_feature_report_flags_collapsed_features():
    g = _gen(5)
    x, y = _blobs(300, 16, 3, spread=8.0, g=g)
    xt, yt = _blobs(150, 16, 3, spread=8.0, g=g)
    healthy = feature_report(x, y, xt, yt, 3, generator=_gen(6))
    assert set(healthy) == {
        "linear_acc", "knn_acc", "semi_1pct_acc", "semi_10pct_acc", "effective_rank", "collapsed", "median_std"
    }
    assert not healthy["collapsed"] and healthy["linear_acc"] >= 0.99 and healthy["knn_acc"] >= 0.99
    assert healthy["effective_rank"] > 8
    # Every embedding on one line: dimensional collapse, effective rank ~1.
    direction = torch.randn(16, generator=g)
    line = torch.randn(300, 1, generator=g) * direction
    line_test = torch.randn(150, 1, generator=g) * direction
    collapsed = feature_report(line, y, line_test, yt, 3, generator=_gen(6))
    assert collapsed["collapsed"] and collapsed["effective_rank"] < 1.5
    assert collapsed["linear_acc"] == pytest.approx(1 / 3, abs=0.12)


def test_classifiers_reject_bad_input():
    x, y = torch.randn(10, 3), torch.arange(10) % 2
    with pytest.raises(ValueError, match="disagree on N"):
        linear_probe_accuracy(x, y[:9], x, y, 2)
    nan = x.clone()
    nan[2, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        knn_accuracy(nan, y, x, y, 2)
    with pytest.raises(ValueError, match=r"test labels must lie in \[0, 2\)"):
        linear_probe_accuracy(x, y, x, y + 1, 2)
    with pytest.raises(ValueError, match="disagree on D"):
        knn_accuracy(x, y, torch.randn(10, 4), y, 2)
    with pytest.raises(ValueError, match="integers"):
        semi_supervised_accuracy(x, y.float(), x, y, 2, 0.5, _gen(0))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        feature_report(x[:, 0], y, x, y, 2, _gen(0))


def test_extract_features_eval_mode_no_grad_and_restores_flags():
    torch.manual_seed(0)
    encoder = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 5)
    )
    encoder.train()
    encoder[1].eval()  # mixed flags must come back exactly
    images = torch.rand(13, 1, 6, 6, generator=_gen(7))
    feats = extract_features(encoder, images, batch_size=4)
    assert feats.shape == (13, 5) and not feats.requires_grad
    assert encoder.training and not encoder[1].training and encoder[3].training
    encoder.eval()
    with torch.no_grad():
        torch.testing.assert_close(feats, encoder(images))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        extract_features(nn.Conv2d(1, 2, 3), images)
    with pytest.raises(ValueError, match="float tensor"):
        extract_features(encoder, (images * 255).to(torch.uint8))


def test_spectrum_shape_normalisation_and_collapse():
    g = _gen(8)
    z = torch.randn(50, 8, generator=g)
    s = singular_value_spectrum(z)
    assert s.shape == (8,) and s.dtype == torch.float64
    assert float(s.sum()) == pytest.approx(1.0) and bool((s[:-1] >= s[1:]).all())
    raw = singular_value_spectrum(z, normalize=False)
    torch.testing.assert_close(raw / raw.sum(), s)
    torch.testing.assert_close(raw, torch.linalg.svdvals((z - z.mean(0)).double()))
    assert singular_value_spectrum(torch.randn(5, 8, generator=g)).shape == (5,)
    line = singular_value_spectrum(torch.randn(50, 1, generator=g) * torch.randn(8, generator=g) + 3.0)
    assert float(line[0]) > 1 - 1e-5  # float32 input: rounding leaves ~1e-7 elsewhere
    assert float(singular_value_spectrum(torch.ones(10, 4)).abs().sum()) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        singular_value_spectrum(torch.full((3, 2), float("nan")))


def test_plot_spectrum_writes_png(tmp_path):
    g = _gen(9)
    spectra = {
        "healthy": singular_value_spectrum(torch.randn(64, 16, generator=g)),
        "collapsed": singular_value_spectrum(torch.randn(64, 2, generator=g) @ torch.randn(2, 16, generator=g)),
    }
    out = plot_spectrum(spectra, tmp_path / "figs" / "spectrum.png")
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="empty"):
        plot_spectrum({}, tmp_path / "x.png")
