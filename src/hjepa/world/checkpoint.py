"""The one checkpoint format of every world model (``hjepa.world_model``, version 2).

A checkpoint is a dict of tensors, numbers and strings, so ``torch.load(path, weights_only=True)``
reads it::

    format: "hjepa.world_model"    version: 2
    kind: "two-rooms" | "gym" | "maze-hierarchy"     what the model was trained on
    model_config: WorldModelConfig.to_dict()          the architecture, to rebuild it
    model, inverse_dynamics: state dicts              the JEPA world model (level 1)
    probe: LinearProbe.state_dict() or {}             the (x, y) / state read-out fitted on held-out data
    level2_config, level2: config and state dict      the level-2 model (maze hierarchy), or absent
    distance_config, distance: config and state dict  level 2's learned temporal distance, or absent
    extra: {...}                                       what the kind needs besides (the pixel
                                                       environments: env, size, frame_stack, action_scale)

Version 1 checkpoints (one format per kind: ``hjepa.two_rooms.world_model/1``,
``hjepa.gym.world_model/1``, ``hjepa.maze.hierarchy/1``) still load. Loading a checkpoint of
another kind names the kind it holds and the one expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from torch import nn

from hjepa.errors import InputError
from hjepa.nn.linear_probe import LinearProbe
from hjepa.runs.run_dir import load_checkpoint
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.hierarchy import HighLevelModel
from hjepa.world.model import JEPAWorldModel
from hjepa.world.temporal_distance import TemporalDistance

FORMAT = "hjepa.world_model"
VERSION = 2
Kind = Literal["two-rooms", "gym", "maze-hierarchy"]
KINDS = ("two-rooms", "gym", "maze-hierarchy")
VERSION_1 = {
    "hjepa.two_rooms.world_model/1": "two-rooms",
    "hjepa.gym.world_model/1": "gym",
    "hjepa.maze.hierarchy/1": "maze-hierarchy",
}
"""Formats written before version 2, one per kind; their keys are version 2's (extra keys of the
gym format sit at the top level)."""


@dataclass
class WorldCheckpoint:
    """A loaded world model: ``model`` in eval mode, its ``config``, the ``probe`` (or None), the
    level-2 model of a maze hierarchy (or None) and the kind's ``extra`` settings."""

    kind: Kind
    model: JEPAWorldModel
    config: WorldModelConfig
    probe: LinearProbe | None = None
    level2: HighLevelModel | None = None
    extra: dict = field(default_factory=dict)
    inverse_dynamics: nn.Module | None = None
    """The inverse-dynamics head trained beside the model (eval mode), where the checkpoint holds one."""
    distance: TemporalDistance | None = None
    """Level 2's learned temporal distance (eval mode), where a maze hierarchy holds one."""


def checkpoint_state(
    kind: Kind, model: JEPAWorldModel, config: WorldModelConfig, inverse_dynamics: nn.Module | None = None,
    probe: LinearProbe | None = None, level2: HighLevelModel | None = None, extra: dict | None = None,
    distance: TemporalDistance | None = None,
) -> dict:
    """The checkpoint dict (``RunDir.save_checkpoint`` writes it atomically)."""
    if kind not in KINDS:
        raise InputError(f"unknown world-model kind {kind!r}: choose one of {', '.join(KINDS)}")
    state = {
        "format": FORMAT, "version": VERSION, "kind": kind, "model_config": config.to_dict(),
        "model": model.state_dict(),
        "inverse_dynamics": inverse_dynamics.state_dict() if inverse_dynamics is not None else {},
        "probe": probe.state_dict() if probe is not None else {},
        "extra": dict(extra or {}),
    }
    if level2 is not None:
        state["level2_config"], state["level2"] = level2.config(), level2.state_dict()
    if distance is not None:
        state["distance_config"], state["distance"] = distance.config(), distance.state_dict()
    return state


def _kind_of(state: dict, path: Path) -> str:
    """The kind a checkpoint dict holds, from version 2's keys or a version 1 format name."""
    name = state.get("format")
    if name in VERSION_1:
        return VERSION_1[name]
    if name != FORMAT:
        raise InputError(f"{path} is not a world-model checkpoint (format {name!r}, expected {FORMAT!r})")
    if state.get("version") != VERSION:
        raise InputError(f"{path} is world-model checkpoint version {state.get('version')!r}; this hjepa reads "
                         f"version {VERSION} (and the version 1 formats)")
    kind = state.get("kind")
    if kind not in KINDS:
        raise InputError(f"{path}: unknown world-model kind {kind!r}")
    return kind


def load_world_checkpoint(path: Path | str, kind: Kind) -> WorldCheckpoint:
    """Load and rebuild the world model of ``kind`` stored at ``path``.

    Raises ``FileNotFoundError`` (no file) or ``ValueError`` naming the problem: corrupt file, not a
    world model, another kind ("holds a gym world model, expected two-rooms"), weights that do not
    match the stored architecture.
    """
    path = Path(path)
    state = load_checkpoint(path)
    found = _kind_of(state, path)
    if found != kind:
        raise InputError(f"{path} holds a {found} world model, expected {kind}")
    if "model" not in state or "model_config" not in state:
        raise InputError(f"{path} lacks the model or its architecture (keys: {sorted(state)})")
    config = WorldModelConfig.from_dict(state["model_config"])
    model, inverse_dynamics = build_world_model(config)
    level2, distance = None, None
    try:
        model.load_state_dict(state["model"])
        if state.get("inverse_dynamics"):
            inverse_dynamics.load_state_dict(state["inverse_dynamics"])
            inverse_dynamics.eval()
        else:
            inverse_dynamics = None
        if kind == "maze-hierarchy":
            level2 = HighLevelModel(**state["level2_config"])
            level2.load_state_dict(state["level2"])
        if "distance" in state:
            distance = TemporalDistance(**state["distance_config"])
            distance.load_state_dict(state["distance"])
            distance.eval()
    except (RuntimeError, TypeError, KeyError) as error:
        raise InputError(f"{path}: weights do not match the stored architecture: {error}") from error
    if level2 is not None and level2.low_state_dim != model.state_dim:
        raise InputError(f"{path}: level 2 expects {level2.low_state_dim}-dim level-1 states, level 1 has {model.state_dim}")
    probe = LinearProbe.from_state_dict(state["probe"]) if state.get("probe") else None
    extra = dict(state.get("extra", {}))
    if state.get("format") == "hjepa.gym.world_model/1":
        extra = {key: state[key] for key in ("env", "size", "frame_stack", "action_scale") if key in state}
    model.eval()
    if level2 is not None:
        level2.eval()
    if distance is not None and (level2 is None or distance.state_dim != level2.state_dim):
        raise InputError(f"{path}: the learned distance takes {distance.state_dim}-dim states, level 2 has "
                         f"{level2.state_dim if level2 is not None else 'no level 2'}")
    return WorldCheckpoint(kind, model, config, probe, level2, extra, inverse_dynamics, distance)  # type: ignore[arg-type]
