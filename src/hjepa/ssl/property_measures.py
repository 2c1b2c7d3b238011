"""The measurements a method exists for, beyond classification, added to ``summary.json``.

``property_measures(method, config, train, test, seed)`` is called by the trainer and by
``hjepa ssl eval`` after the frozen classification evaluation:

* on ``rotated-digits`` (any method): ``hjepa.ssl.sie_eval.sie_measures`` — R^2 of rotation and
  colour from each part of the representation and retrieval after a transformation applied
  through a predictor; SIE is measured on its invariant and equivariant parts as well as on the
  whole backbone, and with its own predictor;
* for MC-JEPA (any one-channel dataset): ``hjepa.ssl.flow_eval.flow_measures`` — optical-flow
  end-point error on moving digits made from the test split, beside the zero-flow and
  Lucas-Kanade baselines.

Other methods and datasets add nothing. ``config.eval_images`` caps the images of each split
they use (the SIE probes and predictors are fitted on at most that many training renderings and
scored on at most that many test renderings; MC-JEPA's video has that many pairs at most).
"""

from __future__ import annotations

import torch

from hjepa.data.images import ImageDataset
from hjepa.data.transformed_objects import TransformedObjects, transformed_digits
from hjepa.errors import InputError
from hjepa.ssl.config import SSLTrainConfig
from hjepa.ssl.data import SPLIT_SEED
from hjepa.ssl.flow_eval import flow_measures
from hjepa.ssl.method import SSLMethod, feature_dim
from hjepa.ssl.methods import MCJEPA, SIE
from hjepa.ssl.sie_eval import sie_measures


def rotated_digit_splits(config: SSLTrainConfig, train: ImageDataset, test: ImageDataset
                         ) -> tuple[TransformedObjects, TransformedObjects]:
    """The recorded angles and hues of the rows of ``train`` / ``test`` (``load_ssl_data``'s split)."""
    objects = transformed_digits()
    train_idx, test_idx = objects.images.split_indices(config.test_fraction, torch.Generator().manual_seed(SPLIT_SEED))
    if len(train_idx) != len(train) or len(test_idx) != len(test):
        raise InputError(f"rotated-digits splits of {len(train)} / {len(test)} rows do not match the dataset's "
                         f"{len(train_idx)} / {len(test_idx)}")
    return (TransformedObjects(train, objects.angles[train_idx], objects.hues[train_idx]),
            TransformedObjects(test, objects.angles[test_idx], objects.hues[test_idx]))


def property_measures(method: SSLMethod, config: SSLTrainConfig, train: ImageDataset, test: ImageDataset,
                      seed: int) -> dict:
    """Flat dict of the measurements of the module docstring (empty when none applies)."""
    results: dict = {}
    if config.dataset == "rotated-digits":
        objects_train, objects_test = rotated_digit_splits(config, train, test)
        generator = torch.Generator().manual_seed(seed)
        objects_train = objects_train.subset(torch.randperm(len(objects_train), generator=generator)[: config.eval_images])
        objects_test = objects_test.subset(torch.randperm(len(objects_test), generator=generator)[: config.eval_images])
        if isinstance(method, SIE):
            k = method.invariant_dim
            parts = {"backbone": slice(None), "invariant": slice(0, k), "equivariant": slice(k, feature_dim(method.backbone))}
            results.update(sie_measures(method.backbone, parts, objects_train, objects_test, seed, sie_method=method,
                                        fit_images=config.eval_images))
        else:
            results.update(sie_measures(method.backbone, {"backbone": slice(None)}, objects_train, objects_test, seed,
                                        fit_images=config.eval_images))
    if isinstance(method, MCJEPA):
        results.update(flow_measures(method, test, count=config.eval_images))
    return results
