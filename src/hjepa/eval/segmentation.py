"""Linear semantic-segmentation probe on frozen local features, scored by mIoU.

The encoder stays frozen; only a linear classifier applied to every cell of its feature map is
trained (a 1 x 1 convolution), the usual protocol for judging local features (e.g. the linear
segmentation evaluations of VICRegL, Bardes et al., NeurIPS 2022).

* Training: features ``(N, D, h, w)`` standardised per channel; targets are the class
  *fractions* of each cell, i.e. the one-hot pixel masks ``(N, H, W)`` averaged over the pixels
  each cell covers (``adaptive_avg_pool2d`` to ``h x w``); soft-label cross-entropy fitted
  full-batch by L-BFGS from zero weights (convex: no seed dependence).
* Test: the cell logits are upsampled bilinearly to the mask resolution ``H x W`` and the argmax
  is compared with the exact pixel labels. Scores: ``miou`` (mean over classes of
  ``TP / (TP + FP + FN)`` on the whole test set, classes absent from both prediction and truth
  skipped), ``pixel_acc``, ``foreground_iou`` (class 0 = background against the rest) and the
  per-class IoUs.

``encoder_maps(encoder, images)`` runs a frozen local encoder ``images -> (B, D, h, w)`` in eval
mode under ``no_grad``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.modes import eval_mode


@torch.no_grad()
def encoder_maps(encoder: Callable[[Tensor], Tensor], images: Tensor, batch_size: int = 256) -> Tensor:
    """``images (N, C, H, W)`` float -> ``float32 (N, D, h, w)`` on the CPU, in batches.

    When ``encoder`` is an ``nn.Module`` it runs in eval mode (its modules' flags restored after)
    on the device of its first parameter.
    """
    if images.dim() != 4 or not images.is_floating_point() or images.shape[0] == 0:
        raise InputError(f"images must be a non-empty float (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    device = images.device
    if isinstance(encoder, nn.Module):
        first = next(iter(encoder.parameters()), None)
        device = first.device if first is not None else device
    parts = []
    with eval_mode(encoder):  # a plain function is called as it is
        for start in range(0, images.shape[0], batch_size):
            out = encoder(images[start : start + batch_size].to(device))
            if out.dim() != 4:
                raise InputError(f"a local encoder must return (B, D, h, w), got {tuple(out.shape)}")
            parts.append(out.float().cpu())
    return torch.cat(parts)


def cell_targets(masks: Tensor, num_classes: int, height: int, width: int) -> Tensor:
    """Class fractions of each cell: ``masks (N, H, W)`` -> ``(N, K, height, width)``, rows summing to 1."""
    one_hot = F.one_hot(masks.long(), num_classes).permute(0, 3, 1, 2).float()  # (N, K, H, W)
    return F.adaptive_avg_pool2d(one_hot, (height, width))


def _check(maps: Tensor, masks: Tensor, num_classes: int, name: str) -> None:
    if maps.dim() != 4 or masks.dim() != 3 or maps.shape[0] != masks.shape[0] or maps.shape[0] == 0:
        raise InputError(f"{name}: need maps (N, D, h, w) and masks (N, H, W), got {tuple(maps.shape)}, {tuple(masks.shape)}")
    if not torch.isfinite(maps).all():
        raise InputError(f"{name} features contain NaN or inf")
    if int(masks.min()) < 0 or int(masks.max()) >= num_classes:
        raise InputError(f"{name} mask values must lie in [0, {num_classes})")


def iou_scores(confusion: Tensor) -> dict:
    """Scores of a ``(K, K)`` confusion matrix (rows: truth, columns: prediction)."""
    confusion = confusion.double()
    tp = confusion.diagonal()
    union = confusion.sum(0) + confusion.sum(1) - tp
    present = union > 0
    iou = torch.where(present, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))
    fg_tp = confusion[1:, 1:].sum()
    fg_union = confusion[1:, :].sum() + confusion[:, 1:].sum() - fg_tp
    return {
        "miou": float(iou[present].mean()),
        "pixel_acc": float(tp.sum() / confusion.sum()),
        "foreground_iou": float(fg_tp / fg_union) if fg_union > 0 else float("nan"),
        "class_iou": [float(v) for v in iou],
    }


def linear_segmentation_miou(train_maps: Tensor, train_masks: Tensor, test_maps: Tensor, test_masks: Tensor,
                             num_classes: int, iterations: int = 100, weight_decay: float = 1e-4,
                             chunk: int = 500) -> dict:
    """Fit the linear cell classifier on ``train`` and score it on ``test`` (module docstring).

    Args:
        train_maps, test_maps: frozen features ``(N, D, h, w)`` (same ``D``, ``h``, ``w``).
        train_masks, test_masks: pixel labels ``(N, H, W)`` in ``[0, num_classes)``.
        num_classes: pixel classes ``K`` (class 0 is the background of ``foreground_iou``).
        iterations: L-BFGS iterations.
        weight_decay: L2 penalty ``0.5 * wd * ||W||^2`` on the weights.
        chunk: test images upsampled at a time.
    Returns:
        ``{"miou", "pixel_acc", "foreground_iou", "class_iou": [K floats], "train_miou"}``.
    """
    if num_classes < 2:
        raise InputError(f"num_classes must be >= 2, got {num_classes}")
    _check(train_maps, train_masks, num_classes, "train")
    _check(test_maps, test_masks, num_classes, "test")
    if train_maps.shape[1:] != test_maps.shape[1:]:
        raise InputError(f"train and test maps differ: {tuple(train_maps.shape)} vs {tuple(test_maps.shape)}")
    if iterations < 1 or weight_decay < 0:
        raise InputError(f"need iterations >= 1 and weight_decay >= 0, got {iterations}, {weight_decay}")
    _, d, h, w = train_maps.shape
    cells = train_maps.float().permute(0, 2, 3, 1).reshape(-1, d)  # (N*h*w, D)
    mean, std = cells.mean(0), cells.std(0, unbiased=False).clamp_min(1e-6)
    x = (cells - mean) / std
    soft = cell_targets(train_masks, num_classes, h, w).permute(0, 2, 3, 1).reshape(-1, num_classes)
    weight = torch.zeros(d, num_classes, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=iterations, history_size=10,
                                  tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = -(soft * F.log_softmax(x @ weight + bias, dim=1)).sum(1).mean()
        loss = loss + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)

    def confusion(maps: Tensor, masks: Tensor) -> Tensor:
        total = torch.zeros(num_classes * num_classes, dtype=torch.int64)
        with torch.no_grad():
            for start in range(0, maps.shape[0], chunk):
                part = (maps[start : start + chunk].float().permute(0, 2, 3, 1) - mean) / std
                logits = (part @ weight + bias).permute(0, 3, 1, 2)  # (n, K, h, w)
                logits = F.interpolate(logits, size=masks.shape[-2:], mode="bilinear", align_corners=False)
                predicted = logits.argmax(1)
                truth = masks[start : start + chunk].long()
                total += torch.bincount((truth * num_classes + predicted).flatten(), minlength=num_classes**2)
        return total.view(num_classes, num_classes)

    scores = iou_scores(confusion(test_maps, test_masks))
    scores["train_miou"] = iou_scores(confusion(train_maps, train_masks))["miou"]
    return scores
