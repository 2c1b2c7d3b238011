"""Architecture of the Two Rooms world model as plain data, and the function that builds it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from torch import nn

from hjepa.errors import InputError
from hjepa.nn.conv import ConvEncoder, SpatialConvEncoder
from hjepa.objectives.temporal import InverseDynamics
from hjepa.world.model import JEPAWorldModel
from hjepa.world.predictor import ConvActionPredictor, ResidualActionPredictor


@dataclass(frozen=True)
class WorldModelConfig:
    """Sizes of the encoder, predictor and inverse-dynamics head."""

    architecture: Literal["vector", "spatial"] = "spatial"
    """'spatial': conv encoder to a feature map of ``spatial_channels`` x h x w (flattened as the
    state) and a convolutional predictor, whose local rule "walls stop the agent, the door lets it
    through" holds for every layout. 'vector': conv encoder to a ``state_dim`` vector and an MLP
    predictor (cheaper to plan with; enough for one fixed layout)."""
    obs_channels: int = 2
    """Channels of an observation (agent, walls)."""
    obs_size: int = 64
    """Side of a raw observation in pixels."""
    obs_pool: int = 4
    """Average-pool factor before the encoder (4: 64x64 -> 16x16, exact and 16x cheaper)."""
    channels: tuple[int, ...] = (32,)
    """Conv channels; each block halves the resolution (16x16 -> 8x8 with the default)."""
    state_dim: int = 64
    """'vector' only: dimension D of the state (representation)."""
    spatial_channels: int = 8
    """'spatial' only: channels of the state's feature map (the state has channels * h * w
    dimensions: 8 * 8 * 8 = 512 with the defaults)."""
    predictor_hidden: int = 32
    """Width of the predictor (conv channels for 'spatial', MLP units for 'vector')."""
    predictor_layers: int = 3
    """Layers of the predictor."""
    idm_hidden: int = 256
    """Width of the inverse-dynamics MLP."""
    activation: Literal["gelu", "relu"] = "gelu"
    """Nonlinearity of the encoder, predictor and inverse-dynamics head ('spatial'; the 'vector'
    predictor's MLP keeps GELU). ReLU's forward + backward is ~6x cheaper than GELU's on an AVX2 CPU."""
    frameskip: int = 4
    """Environment steps per predictor step; the macro-action is the k actions concatenated."""
    action_dim: int = 2
    """Dimension of one environment action."""

    def __post_init__(self) -> None:
        for name in ("obs_channels", "obs_size", "obs_pool", "state_dim", "spatial_channels", "predictor_hidden",
                     "predictor_layers", "frameskip", "idm_hidden", "action_dim"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.channels or min(self.channels) < 1:
            raise InputError(f"channels must be one or more conv widths, each >= 1, got {tuple(self.channels)}")
        for name, allowed in (("architecture", ("vector", "spatial")), ("activation", ("gelu", "relu"))):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.obs_size % self.obs_pool:  # after the check above: obs_pool 0 is refused, not divided by
            raise InputError(f"obs_pool {self.obs_pool} must divide obs_size {self.obs_size}")

    @property
    def macro_action_dim(self) -> int:
        return self.frameskip * self.action_dim

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "WorldModelConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "channels" in known:
            known["channels"] = tuple(known["channels"])
        return cls(**known)


# The previous default (until the spatial model): a 64-D vector state and an MLP predictor.
VECTOR_WORLD_MODEL = WorldModelConfig(
    architecture="vector", obs_pool=2, channels=(32, 64, 64), state_dim=64, predictor_hidden=256, predictor_layers=3
)


def build_world_model(config: WorldModelConfig) -> tuple[JEPAWorldModel, InverseDynamics]:
    """The world model and its inverse-dynamics head, freshly initialised."""
    input_size = config.obs_size // config.obs_pool
    activation = nn.ReLU if config.activation == "relu" else nn.GELU
    if config.architecture == "spatial":
        encoder = SpatialConvEncoder(config.obs_channels, input_size, config.channels, config.spatial_channels,
                                     activation=activation)
        predictor = ConvActionPredictor(
            encoder.grid, config.macro_action_dim, config.predictor_hidden, config.predictor_layers, activation=activation
        )
    else:
        encoder = ConvEncoder(config.obs_channels, input_size, config.channels, config.state_dim, activation=activation)
        predictor = ResidualActionPredictor(
            config.state_dim, config.macro_action_dim, config.predictor_hidden, config.predictor_layers
        )
    model = JEPAWorldModel(encoder, predictor, obs_pool=config.obs_pool)
    inverse_dynamics = InverseDynamics(predictor.state_dim, config.macro_action_dim, config.idm_hidden, activation)
    return model, inverse_dynamics
