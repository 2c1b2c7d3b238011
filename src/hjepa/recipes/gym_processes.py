"""``hjepa gym`` over several processes (``torchrun --nproc-per-node N -m hjepa gym ...``).

Rank 0 runs the whole job (``hjepa.recipes.gym.run_stages``): it collects or loads the data, builds
the world model and, just before training, hands the other ranks (``hjepa.runs.distributed.Handover``)
the paths of the training data it saved, the starting weights and the random states. From there
every rank draws the same global batches and trains on its block of rows
(``train_world_model(..., context=...)``); the other ranks write nothing and wait at the end while
rank 0 evaluates and reports. The data is read from rank 0's run directory: the processes share a
file system (one machine, or ``--runs-root`` on a shared disk).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import torch

from hjepa.data.trajectories import Trajectories
from hjepa.envs.adapters.catalog import EnvFunctions
from hjepa.objectives.temporal import InverseDynamics
from hjepa.recipes.gym_config import GymJob, window_sampler
from hjepa.runs.distributed import DistributedContext, Handover
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.model import JEPAWorldModel
from hjepa.world.train import train_world_model

WAIT_FOR_RANK0 = timedelta(hours=24)
"""How long a rank other than 0 may wait for rank 0, which collects the data before training and
evaluates after it alone (torch's default of 30 minutes is shorter than a large collection)."""


def train_beside_rank0(job: GymJob, functions: EnvFunctions, action_scale: np.ndarray, context: DistributedContext,
                       generator: torch.Generator) -> dict:
    """A rank other than 0 of ``torchrun``: wait for rank 0's handover, train on this process's rows
    of each global batch, write nothing; returns ``{"rank", "train_steps"}``."""
    start = Handover(context).receive()
    if start is None:  # nothing to train (a --checkpoint, or a resumed run already trained)
        return {"rank": context.rank, "train_steps": 0}
    model, inverse_dynamics = build_world_model(start["config"])
    model.load_state_dict(start["model"])
    inverse_dynamics.load_state_dict(start["inverse_dynamics"])
    model.to(job.device)
    inverse_dynamics.to(job.device)
    torch.set_rng_state(start["torch_rng"])
    generator.set_state(start["generator"])
    parts = [Trajectories.load(Path(path)) for path in start["data"]]
    data = parts[0] if len(parts) == 1 else Trajectories.concat(parts)
    result = train_world_model(model, inverse_dynamics, window_sampler(job, functions, action_scale, data), job.loss,
                               job.train, generator, show_progress=False, resume=start["resume"], context=context)
    return {"rank": context.rank, "train_steps": result.steps}


def training_start(config: WorldModelConfig, model: JEPAWorldModel, inverse_dynamics: InverseDynamics,
                   generator: torch.Generator, data: list[Path], resume: dict | None) -> dict:
    """What rank 0 hands the other ranks before training: the architecture, the starting weights (on
    the CPU), torch's and the training generator's states, the paths of the training data's parts
    and the state of an interrupted training to resume (None: from the start)."""
    return {"config": config, "model": {k: v.cpu() for k, v in model.state_dict().items()},
            "inverse_dynamics": {k: v.cpu() for k, v in inverse_dynamics.state_dict().items()},
            "torch_rng": torch.get_rng_state(), "generator": generator.get_state(), "data": [str(Path(p).resolve()) for p in data],
            "resume": resume}
