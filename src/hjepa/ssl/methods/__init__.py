"""Image self-supervised methods, one file per family, all subclasses of ``hjepa.ssl.method.SSLMethod``.

* ``vicreg``: VICReg (Bardes et al. 2022), with no weight sharing (``VICRegTwoEncoders``) and with
  an image branch and an intensity-profile branch (``VICRegMultiModal``).
* ``barlow``: Barlow Twins (Zbontar et al. 2021).
* ``simclr``: SimCLR (Chen et al. 2020).
* ``byol``: BYOL (Grill et al. 2020), with the no-predictor and VC-regulariser ablations.
* ``simsiam``: SimSiam (Chen & He 2021), with the no-predictor / no-stop-gradient ablations.
* ``lejepa``: LeJEPA (Balestriero & LeCun 2025).
* ``ijepa``: I-JEPA (Assran et al. 2023); ``mae``: its pixel-prediction counterpart (same masks).
* ``vicregl``: VICRegL (Bardes et al. 2022), VICReg plus matched local features.
* ``sie``: SIE (Garrido et al. 2023), invariant and equivariant parts, hypernetwork predictor.
* ``mcjepa``: MC-JEPA (Bardes et al. 2023), content (VICReg) and self-supervised optical flow.
* ``profiles``: the second modality of ``VICRegMultiModal`` and its ``MLPBackbone``.
"""

from hjepa.ssl.methods.barlow import BarlowTwins
from hjepa.ssl.methods.byol import BYOL
from hjepa.ssl.methods.ijepa import IJEPA, MaskedTokenPredictor
from hjepa.ssl.methods.lejepa import LeJEPA
from hjepa.ssl.methods.mae import MaskedPixelPrediction
from hjepa.ssl.methods.mcjepa import MCJEPA
from hjepa.ssl.methods.profiles import MLPBackbone, ProfileEncoder, intensity_profiles, profile_dim
from hjepa.ssl.methods.sie import SIE
from hjepa.ssl.methods.simclr import SimCLR
from hjepa.ssl.methods.simsiam import SimSiam
from hjepa.ssl.methods.vicreg import VICReg, VICRegMultiModal, VICRegTwoEncoders
from hjepa.ssl.methods.vicregl import VICRegL

__all__ = [
    "BYOL",
    "BarlowTwins",
    "IJEPA",
    "LeJEPA",
    "MCJEPA",
    "MLPBackbone",
    "MaskedPixelPrediction",
    "MaskedTokenPredictor",
    "ProfileEncoder",
    "SIE",
    "SimCLR",
    "SimSiam",
    "VICReg",
    "VICRegMultiModal",
    "VICRegL",
    "VICRegTwoEncoders",
    "intensity_profiles",
    "profile_dim",
]
