"""MC-JEPA's flow measurement: end-point error on moving test digits, beside two baselines.

The evaluation video is ``hjepa.data.moving_digits.moving_digits`` made from the *test* split's
digits over textures cut with ``FLOW_EVAL_SEED`` (other crops than the training textures), one
frame pair per test image. Reported (pixels, lower is better), each over all pixels, over the
digit's pixels and over the background's:

* ``flow_epe``, ``flow_epe_digit``, ``flow_epe_background``: the method's finest flow, upsampled;
* ``zero_flow_epe`` (and ``_digit``, ``_background``): predicting no motion, i.e. the mean speed;
* ``lucas_kanade_epe`` (and ...): pyramidal Lucas-Kanade (``hjepa.eval.flow``) with
  ``LUCAS_KANADE`` settings, chosen among a few on a validation video of *training* digits
  (seed 7): one level, 10 iterations, window sigma 2.5 px, ridge 1e-3 (more levels let the
  digit's strong edges drag the background's flow with them).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hjepa.data.images import ImageDataset
from hjepa.data.moving_digits import FlowPairs, moving_digits
from hjepa.errors import InputError
from hjepa.eval.flow import end_point_error, lucas_kanade
from hjepa.nn.modes import eval_mode

FLOW_EVAL_SEED = 2024
LUCAS_KANADE = {"levels": 1, "iterations": 10, "window_sigma": 2.5, "ridge": 1e-3}


def evaluation_video(test: ImageDataset, max_background_speed: float = 2.0, count: int | None = None) -> FlowPairs:
    """One moving pair per test image (the first ``count``), seeded with ``FLOW_EVAL_SEED``."""
    if test.image_shape[0] != 1:
        raise InputError(f"the flow evaluation renders grey digits; the dataset has {test.image_shape[0]} channels")
    rows = slice(0, count)
    return moving_digits(test.float_images(rows), test.labels[rows],
                         max_background_speed=min(max_background_speed, test.image_shape[-1] / 4),
                         generator=torch.Generator().manual_seed(FLOW_EVAL_SEED))


def epe_report(prefix: str, flow: Tensor, pairs: FlowPairs) -> dict[str, float]:
    """``{prefix: all pixels, prefix_digit, prefix_background}`` end-point errors of ``flow``."""
    return {
        prefix: float(end_point_error(flow, pairs.flow)),
        f"{prefix}_digit": float(end_point_error(flow, pairs.flow, pairs.mask)),
        f"{prefix}_background": float(end_point_error(flow, pairs.flow, ~pairs.mask)),
    }


@torch.no_grad()
def estimate_flows(method: nn.Module, pairs: FlowPairs, batch_size: int = 250) -> Tensor:
    """``method.estimate_flow`` over every pair in eval mode (training flags restored): ``(N, 2, S, S)``."""
    device = next(method.parameters()).device
    with eval_mode(method):
        parts = [method.estimate_flow(pairs.frames1[i:i + batch_size].to(device),
                                      pairs.frames2[i:i + batch_size].to(device)).float().cpu()
                 for i in range(0, len(pairs), batch_size)]
    return torch.cat(parts)


def baseline_measures(pairs: FlowPairs) -> dict[str, float]:
    """The zero-flow and Lucas-Kanade rows (they do not depend on any encoder)."""
    return {**epe_report("zero_flow_epe", torch.zeros_like(pairs.flow), pairs),
            **epe_report("lucas_kanade_epe", lucas_kanade(pairs.frames1, pairs.frames2, **LUCAS_KANADE), pairs)}


def flow_measures(method: nn.Module, test: ImageDataset, count: int | None = None) -> dict[str, float]:
    """Every key of the module docstring for an ``MCJEPA`` on the test split's video."""
    pairs = evaluation_video(test, count=count)
    return {**epe_report("flow_epe", estimate_flows(method, pairs), pairs), **baseline_measures(pairs),
            "flow_pairs": len(pairs)}
