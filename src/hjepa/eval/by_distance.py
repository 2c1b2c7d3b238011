"""Success grouped by how far apart start and goal were (e.g. maze tasks by rooms apart)."""

from __future__ import annotations

from torch import Tensor


def success_by_distance(distance: Tensor, success: Tensor) -> dict[int, tuple[float, int]]:
    """``{distance: (success rate, episodes)}`` from per-episode distances and successes ``(N,)``."""
    out = {}
    for d in sorted(set(distance.tolist())):
        mask = distance == d
        out[int(d)] = (float(success[mask].float().mean()), int(mask.sum()))
    return out
