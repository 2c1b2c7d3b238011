"""SIE's measurements on ``rotated-digits``: what each part of a frozen encoder knows about the
transformations, and how well a predictor applies a transformation in representation space.

For every encoder of a method (SIE: ``backbone``, ``invariant``, ``equivariant``; VICReg: the
``backbone``), on the renderings of the dataset with their recorded angle and hue:

* ``rotation_r2/<encoder>``, ``colour_r2/<encoder>``: R^2 of an MLP probe predicting
  ``(cos, sin)`` of the rendering's angle, and of ``2 pi`` times its hue, fitted on the training
  split, scored on the test split (``hjepa.eval.equivariance``), from one rendering's features.
* ``pair_rotation_r2/<encoder>``, ``pair_colour_r2/<encoder>``: the paper's measure (its
  ``eval_angle_prediction`` / ``eval_color_prediction``): R^2 of an MLP probe predicting the
  *relative* transformation between two transformed copies of a rendering (``(cos, sin)`` of the
  relative angle and hue shift) from the concatenation of the two copies' features. Each copy
  is rotated by up to 45 degrees, so relative rotations stay within +-90 degrees: a ConvNet's
  stroke features are axial (a stroke turned by 180 degrees is the same stroke), so beyond that a
  relative rotation ``d`` and ``d + 180`` look alike and ``(cos d, sin d)`` is ambiguous for any
  encoder. ``pair_rotation_r2_wide/<encoder>`` (and colour) is the same with copies rotated by up
  to 90 degrees, as the training views are. SIE's claim: high from the equivariant part, low from
  the invariant one (and from VICReg): a part that is invariant gives both copies the same
  features, from which no relative transformation follows.
* retrieval through a predictor: each test rendering ``x`` is transformed by ``K`` random
  transformations ``T_k`` (rotation and hue shift); the embedding of ``T_k x`` is predicted from
  that of ``x`` and the parameters of ``T_k``, and ranked against the embeddings of all ``K``
  transformed copies of the same ``x`` (so only the transformation, not the object, tells them
  apart; chance: top-1 ``1 / K``):

  - ``retrieval_top1/<encoder>``, ``retrieval_mrr/<encoder>``: an affine ``HyperPredictor``
    (``W(t) = A_0 + sum_i t_i A_i``) fitted on the frozen features of training renderings and their
    transformed copies (every method, every part);
  - without a predictor (``z(T_k x) ~ z(x)``) the same ``z(x)`` is compared with every copy, so
    the true copy's rank is uniform: exactly chance, top-1 ``1 / K``, MRR ``H_K / K`` (0.125 and
    0.340 for ``K = 8``), whatever the features;
  - SIE only, ``retrieval_top1/sie_predictor`` (and ``mrr``): SIE's own trained predictor on its
    equivariant embeddings ``z_eq``;
  - ``retrieval_rotation_top1/<encoder>`` (and ``mrr``, and ``/sie_predictor``): the same with
    copies that differ by their rotation only (no hue shift), through the same predictors: a hue
    shift changes the colour of every digit pixel and is the easier one to tell apart, so this
    gallery shows whether the rotation, too, is applied in representation space.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hjepa.data.transformed_objects import TransformedObjects, circle_targets
from hjepa.errors import InputError
from hjepa.eval.classify import extract_features
from hjepa.eval.equivariance import mlp_regression_r2, retrieval_metrics, retrieval_ranks
from hjepa.nn.hypernet import HyperPredictor
from hjepa.nn.modes import eval_mode
from hjepa.ssl.transform_views import PARAM_DIM, apply_transform, transform_params

GROUPS = {"rotation": slice(0, 2), "colour": slice(2, 4)}


def _targets(objects: TransformedObjects) -> Tensor:
    return circle_targets(objects.angles, objects.hues)  # (N, 4)


def random_transforms(count: int, generator: torch.Generator, max_angle: float = math.pi / 2,
                      max_hue_shift: float = 0.5) -> tuple[Tensor, Tensor]:
    """``(angles, hue_shifts)``, each ``(count,)``, uniform in ``[-max, max]`` (the range of the
    relative transformations ``TransformViews`` trains on)."""
    u = torch.rand(2, count, generator=generator)
    return (2 * u[0] - 1) * max_angle, (2 * u[1] - 1) * max_hue_shift


def fit_predictor(source: Tensor, target: Tensor, params: Tensor, generator: torch.Generator,
                  steps: int = 300, batch_size: int = 256, lr: float = 1e-3) -> tuple[HyperPredictor, Tensor]:
    """Fit an affine ``HyperPredictor`` ``target ~ (A_0 + sum_i params_i A_i) source`` on frozen features.

    Affine (``A_0`` starts at ``I``, the rest at 0): features that a transformation leaves alone
    are carried over, whatever the encoder. Features are divided by one global scale (their RMS)
    so the fit does not depend on the feature magnitude; the scale is returned with the predictor
    (divide inputs by it). ``source, target (N, D)``, ``params (N, P)``; Adam on minibatches drawn
    from ``generator``.
    """
    scale = source.pow(2).mean().sqrt().clamp_min(1e-8)
    predictor = HyperPredictor(source.shape[1], PARAM_DIM, affine=True)
    optimizer = torch.optim.Adam(predictor.parameters(), lr=lr)
    x, y = source / scale, target / scale
    with torch.enable_grad():
        for _ in range(steps):
            rows = torch.randint(0, x.shape[0], (min(batch_size, x.shape[0]),), generator=generator)
            loss = (predictor(x[rows], params[rows]) - y[rows]).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return predictor.eval(), scale


def _retrieval(source: Tensor, gallery: Tensor, params: Tensor, predict) -> dict[str, float]:
    """``retrieval_metrics`` of the predictions of ``predict``.

    ``source (N, D)`` embeddings of the test renderings, ``gallery (N, K, D)`` of their ``K``
    transformed copies, ``params (N * K, P)`` the copies' parameters (row ``n * K + j``: copy ``j``
    of rendering ``n``).
    """
    n, k, _ = gallery.shape
    sources = source.repeat_interleave(k, dim=0)  # (N * K, D)
    with torch.no_grad():
        predicted = predict(sources, params)
    queries = gallery.repeat_interleave(k, dim=0)  # query (n, j) ranks copy j among the copies of n
    target = torch.arange(k).repeat(n)
    return retrieval_metrics(retrieval_ranks(predicted, queries, target))


def pair_r2(backbone: nn.Module, parts: dict[str, slice], train_images: Tensor, test_images: Tensor,
            generator: torch.Generator, max_angle: float = math.pi / 4, max_hue_shift: float = 0.5,
            suffix: str = "") -> dict[str, float]:
    """``pair_rotation_r2<suffix>/<part>`` and ``pair_colour_r2<suffix>/<part>`` (module docstring).

    Args:
        backbone: frozen encoder ``(B, 3, S, S) -> (B, F)``.
        parts: name -> feature columns, as in ``sie_measures``.
        train_images, test_images: ``(N, 3, S, S)`` and ``(M, 3, S, S)`` in ``[0, 1]``; each gets
            one pair of copies.
        generator: the copies' transformations and the probes' initialisation.
        max_angle, max_hue_shift: each copy's rotation (radians) and hue shift (turns) are uniform
            in ``[-max, max]``, so relative ones reach twice that.
        suffix: appended to the result names (``"_wide"`` for copies rotated like the views).
    """
    features, targets = [], []
    for images in (train_images, test_images):
        n = images.shape[0]
        (angle_a, hue_a), (angle_b, hue_b) = (random_transforms(n, generator, max_angle, max_hue_shift) for _ in range(2))
        h_a = extract_features(backbone, apply_transform(images, angle_a, hue_a))  # (N, F)
        h_b = extract_features(backbone, apply_transform(images, angle_b, hue_b))
        features.append((h_a, h_b))
        targets.append(circle_targets(angle_b - angle_a, hue_b - hue_a))  # (N, 4)
    results = {}
    for name, columns in parts.items():
        (train_a, train_b), (test_a, test_b) = features
        r2 = mlp_regression_r2(torch.cat([train_a[:, columns], train_b[:, columns]], dim=1), targets[0],
                               torch.cat([test_a[:, columns], test_b[:, columns]], dim=1), targets[1], GROUPS, generator)
        results[f"pair_rotation_r2{suffix}/{name}"], results[f"pair_colour_r2{suffix}/{name}"] = r2["rotation"], r2["colour"]
    return results


def sie_measures(backbone: nn.Module, parts: dict[str, slice], train: TransformedObjects, test: TransformedObjects,
                 seed: int, transforms_per_image: int = 8, sie_method: nn.Module | None = None,
                 fit_images: int = 2000) -> dict:
    """The measurements of the module docstring, as a flat dict (``seed`` fixes every draw).

    Args:
        backbone: frozen encoder ``(B, 3, S, S) -> (B, F)``; its features are computed once.
        parts: name -> feature columns measured as one encoder, e.g. SIE's
            ``{"backbone": slice(None), "invariant": slice(0, F // 2), "equivariant": slice(F // 2, None)}``.
        train, test: renderings with their recorded angles and hues (``TransformedObjects.split``).
        transforms_per_image: ``K``, the gallery size of the retrieval.
        sie_method: an ``SIE`` (with ``backbone``) whose own predictor is also measured
            (``retrieval_*/sie_predictor``), on ``projector_eq`` of the equivariant features.
        fit_images: training renderings (and as many transformed copies) used to fit each predictor.
    """
    if transforms_per_image < 2:
        raise InputError(f"transforms_per_image must be >= 2 (a gallery to retrieve from), got {transforms_per_image}")
    if not parts:
        raise InputError("parts must name at least one range of features")
    generator = torch.Generator().manual_seed(seed)
    train_images, test_images = train.images.float_images(), test.images.float_images()
    fit_rows = torch.randperm(len(train), generator=generator)[:fit_images]
    fit_angles, fit_hues = random_transforms(len(fit_rows), generator)
    fit_params = transform_params(fit_angles, fit_hues)
    k = transforms_per_image
    angles, hues = random_transforms(len(test) * k, generator)  # copy j of rendering n: row n * K + j
    params = transform_params(angles, hues)
    rotation_angles, _ = random_transforms(len(test) * k, generator)
    no_hue = torch.zeros_like(rotation_angles)
    galleries = {"retrieval": (params, _copy_features(backbone, test_images, angles, hues, k)),
                 "retrieval_rotation": (transform_params(rotation_angles, no_hue),
                                        _copy_features(backbone, test_images, rotation_angles, no_hue, k))}

    train_h = extract_features(backbone, train_images)  # (N, F)
    test_h = extract_features(backbone, test_images)  # (M, F)
    fit_h = extract_features(backbone, apply_transform(train_images[fit_rows], fit_angles, fit_hues))
    train_y, test_y = _targets(train), _targets(test)
    results: dict = {"retrieval_gallery": k}
    for name, columns in parts.items():
        r2 = mlp_regression_r2(train_h[:, columns], train_y, test_h[:, columns], test_y, GROUPS, generator)
        results[f"rotation_r2/{name}"], results[f"colour_r2/{name}"] = r2["rotation"], r2["colour"]
        predictor, scale = fit_predictor(train_h[fit_rows][:, columns], fit_h[:, columns], fit_params, generator)
        for key, (copy_params, copies_h) in galleries.items():
            gallery = copies_h[:, columns].reshape(len(test), k, -1) / scale
            metrics = _retrieval(test_h[:, columns] / scale, gallery, copy_params, predictor)
            results[f"{key}_top1/{name}"], results[f"{key}_mrr/{name}"] = metrics["top1"], metrics["mrr"]
    if sie_method is not None:
        with eval_mode(sie_method), torch.no_grad():
            def embed(h: Tensor) -> Tensor:
                return sie_method.projector_eq(sie_method.split(h)[1])
            source = embed(test_h)
            for key, (copy_params, copies_h) in galleries.items():
                gallery = embed(copies_h).reshape(len(test), k, -1)
                metrics = _retrieval(source, gallery, copy_params, sie_method.predictor)
                results[f"{key}_top1/sie_predictor"], results[f"{key}_mrr/sie_predictor"] = metrics["top1"], metrics["mrr"]
    # its own stream, so adding it left every other measure's draws as they were
    results.update(pair_r2(backbone, parts, train_images[fit_rows], test_images, torch.Generator().manual_seed(seed + 1)))
    results.update(pair_r2(backbone, parts, train_images[fit_rows], test_images, torch.Generator().manual_seed(seed + 2),
                           max_angle=math.pi / 2, suffix="_wide"))
    return results


def _copy_features(backbone: nn.Module, images: Tensor, angles: Tensor, hues: Tensor, k: int) -> Tensor:
    """Features of ``K`` transformed copies of each image: ``images (M, 3, S, S)``, ``angles, hues
    (M * K,)`` (row ``n * K + j``: copy ``j`` of image ``n``) -> ``(M * K, F)``, in chunks."""
    return torch.cat([
        extract_features(backbone, apply_transform(images[rows].repeat_interleave(k, dim=0),
                                                   angles[rows[0] * k:(rows[-1] + 1) * k],
                                                   hues[rows[0] * k:(rows[-1] + 1) * k]))
        for rows in torch.arange(len(images)).split(500)
    ])
