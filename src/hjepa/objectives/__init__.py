"""Self-supervised and temporal objectives: pure loss functions and thin ``nn.Module`` wrappers.

* ``vicreg``: VICReg (Bardes et al. 2022) and its variance/covariance regulariser.
* ``barlow``: Barlow Twins (Zbontar et al. 2021).
* ``infonce``: InfoNCE / NT-Xent (SimCLR, Chen et al. 2020).
* ``distill``: BYOL (Grill et al. 2020), SimSiam (Chen & He 2021) and BYOL's momentum schedule.
* ``sigreg``: SIGReg and the LeJEPA objective (Balestriero & LeCun 2025).
* ``temporal``: temporal smoothness and inverse dynamics on latent sequences.
* ``gather``: differentiable all-gather / all-reduce so batch statistics use the global batch.
"""

from hjepa.objectives.barlow import BarlowTerms, BarlowTwinsLoss, barlow_twins_loss
from hjepa.objectives.distill import byol_loss, cosine_momentum, simsiam_loss
from hjepa.objectives.gather import all_reduce_sum, gather_batch, rank, world_size
from hjepa.objectives.infonce import InfoNCELoss, info_nce_loss
from hjepa.objectives.sigreg import LeJEPALoss, LeJEPATerms, SIGRegLoss, lejepa_loss, sigreg_loss
from hjepa.objectives.temporal import InverseDynamics, inverse_dynamics_loss, temporal_smoothness
from hjepa.objectives.vicreg import (
    VICRegLoss,
    VICRegTerms,
    covariance_loss,
    invariance_loss,
    variance_loss,
    vc_regularizer,
    vicreg_loss,
)

__all__ = [
    # vicreg
    "VICRegLoss",
    "VICRegTerms",
    "covariance_loss",
    "invariance_loss",
    "variance_loss",
    "vc_regularizer",
    "vicreg_loss",
    # barlow
    "BarlowTerms",
    "BarlowTwinsLoss",
    "barlow_twins_loss",
    # infonce
    "InfoNCELoss",
    "info_nce_loss",
    # distill
    "byol_loss",
    "cosine_momentum",
    "simsiam_loss",
    # sigreg
    "LeJEPALoss",
    "LeJEPATerms",
    "SIGRegLoss",
    "lejepa_loss",
    "sigreg_loss",
    # temporal
    "InverseDynamics",
    "inverse_dynamics_loss",
    "temporal_smoothness",
    # gather
    "all_reduce_sum",
    "gather_batch",
    "rank",
    "world_size",
]
