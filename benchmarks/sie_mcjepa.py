"""SIE and MC-JEPA, each measured on the property it exists for, against VICReg (same backbone, budget).

Tables (``--table``; ``all`` runs both):

    sie       rotated-digits (mnist-5k digits rendered in colour at known rotations and hues,
              ``hjepa.data.transformed_objects``), small ConvNet, same views (two rotated, hue-shifted
              copies of each image) and steps for SIE and VICReg ("sie-vicreg"): classification from the
              whole representation and from each part, R^2 of rotation and colour from each part, and
              retrieval of a transformed image's embedding through a predictor (top-1 / MRR among the
              8 transformed copies of the same image; chance 0.125 / 0.340). Floor: the untrained
              ConvNet. SIE's claim: rotation and colour are predictable from the equivariant part, not
              from the invariant one, and the predictor applies transformations in latent space.
    mc-jepa   mnist-5k, small ConvNet: MC-JEPA (VICReg on digits + self-supervised flow on digits moving
              over moving textures) vs plain VICReg: flow end-point error on a held-out moving-digit
              video (``hjepa.ssl.flow_eval``) against zero flow and Lucas-Kanade, and content accuracy
              (linear / k-NN on mnist-5k) against VICReg.

Every trained row is ``hjepa.ssl.trainer.train_ssl`` in a temporary run directory; its numbers are
that run's ``summary.json`` (the same as ``hjepa ssl train`` writes).

    python benchmarks/sie_mcjepa.py --table all       # ~40 min at 1 thread on a busy 2-core CPU
    python benchmarks/sie_mcjepa.py --quick --out-dir runs/sm   # smoke run (tiny sizes)
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import tyro

from common import RESULTS_DIR, write_result
from hjepa.data.images import ImageDataset
from hjepa.eval.classify import feature_report
from hjepa.runs.run_dir import RunDir
from hjepa.ssl.build import build_backbone
from hjepa.ssl.config import SSLTrainConfig, derived_seeds
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.evaluation import dataset_features
from hjepa.ssl.flow_eval import baseline_measures, evaluation_video
from hjepa.ssl.property_measures import rotated_digit_splits
from hjepa.ssl.sie_eval import sie_measures
from hjepa.ssl.trainer import train_ssl

TableName = Literal["sie", "mc-jepa", "all"]


@dataclass(frozen=True)
class Config:
    """SIE / MC-JEPA benchmark tables on a CPU."""

    table: TableName = "all"
    """Which table (all: sie, mc-jepa)."""
    steps: int = 300
    """Training steps of every row."""
    batch_size: int = 128
    """Batch size of every row."""
    threads: int = 1
    """Torch threads (1 on a shared machine)."""
    seed: int = 0
    quick: bool = False
    """Tiny smoke sizes (quality meaningless)."""
    progress: bool = False
    """Progress bars of each run."""
    out_dir: Path = RESULTS_DIR
    """Where sie_mcjepa_<table>[_seed<N>].json are written."""


def base_config(config: Config, dataset: str) -> SSLTrainConfig:
    base = SSLTrainConfig(dataset=dataset, backbone="convnet", steps=config.steps, batch_size=config.batch_size,
                          precision="fp32", threads=config.threads, seed=config.seed, progress=config.progress,
                          checkpoint_every=0, log_every=50)
    if config.quick:
        base = dataclasses.replace(base, width=4, projector_dim=16, steps=3, batch_size=32, warmup_steps=1,
                                   rank_images=128, eval_images=128)
    return base


def command_of(ssl: SSLTrainConfig) -> str:
    """The ``hjepa ssl train`` line of a row (fields that differ from the defaults)."""
    default = SSLTrainConfig().to_dict()
    args = [f"--{k.replace('_', '-')} {v}" for k, v in ssl.to_dict().items()
            if v != default[k] and k not in ("checkpoint_every", "log_every", "progress")]
    return "hjepa ssl train --name NAME " + " ".join(args)


def trained(ssl: SSLTrainConfig, data: tuple[ImageDataset, ImageDataset]) -> dict:
    """Train one row in a temporary run directory and return its summary."""
    print(f"[{time.strftime('%H:%M:%S')}] {ssl.method} {ssl.steps} steps", flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        summary = train_ssl(ssl, RunDir.create(tmp, "row"), data=data)
    summary = {**summary, "wall_seconds": time.perf_counter() - start}
    print(f"    linear {summary['linear_acc']:.4f} knn {summary['knn_acc']:.4f} train {summary['train_seconds']:.0f} s",
          flush=True)
    return summary


def untrained_backbone(ssl: SSLTrainConfig, data: tuple[ImageDataset, ImageDataset]) -> torch.nn.Module:
    channels, size, _ = data[0].image_shape
    torch.manual_seed(ssl.seed)
    return build_backbone(ssl.backbone, channels, size, ssl.width)


def classification(encoder: torch.nn.Module, data: tuple[ImageDataset, ImageDataset], seed: int) -> dict:
    train, test = data
    train_x, test_x = dataset_features(encoder, train), dataset_features(encoder, test)
    return feature_report(train_x, train.labels, test_x, test.labels, train.num_classes,
                          torch.Generator().manual_seed(derived_seeds(seed)[2]))


def sie_rows(label: str, method: str, summary: dict, parts: list[str], command: str) -> list[dict]:
    rows = []
    for part in parts:
        report = summary.get("encoders", {}).get(part, summary)
        row = {"row": label, "method": method, "part": part, "linear_acc": report["linear_acc"],
               "knn_acc": report["knn_acc"], "rotation_r2": summary[f"rotation_r2/{part}"],
               "colour_r2": summary[f"colour_r2/{part}"], "pair_rotation_r2": summary[f"pair_rotation_r2/{part}"],
               "pair_colour_r2": summary[f"pair_colour_r2/{part}"],
               "pair_rotation_r2_wide": summary[f"pair_rotation_r2_wide/{part}"],
               "retrieval_top1": summary[f"retrieval_top1/{part}"],
               "retrieval_mrr": summary[f"retrieval_mrr/{part}"],
               "rotation_retrieval_top1": summary[f"retrieval_rotation_top1/{part}"],
               "train_seconds": summary.get("train_seconds", 0.0), "command": command}
        if part == "equivariant" and "retrieval_top1/sie_predictor" in summary:
            row["own_predictor_top1"] = summary["retrieval_top1/sie_predictor"]
            row["own_predictor_mrr"] = summary["retrieval_mrr/sie_predictor"]
            row["own_predictor_rotation_top1"] = summary["retrieval_rotation_top1/sie_predictor"]
        rows.append(row)
    return rows


def table_sie(config: Config) -> Path:
    base = base_config(config, "rotated-digits")
    data = load_ssl_data(base.dataset, None, base.test_fraction)
    rows = []
    backbone = untrained_backbone(base, data)
    objects_train, objects_test = rotated_digit_splits(base, *data)
    generator = torch.Generator().manual_seed(derived_seeds(base.seed)[2])
    objects_train = objects_train.subset(torch.randperm(len(objects_train), generator=generator)[: base.eval_images])
    objects_test = objects_test.subset(torch.randperm(len(objects_test), generator=generator)[: base.eval_images])
    floor = {**classification(backbone, data, base.seed),
             **sie_measures(backbone, {"backbone": slice(None)}, objects_train, objects_test, derived_seeds(base.seed)[2],
                            fit_images=base.eval_images)}
    rows += sie_rows("untrained ConvNet (floor)", "-", floor, ["backbone"], "random initialisation, seed 0")
    for label, method, parts in [("VICReg, same views", "sie-vicreg", ["backbone"]),
                                 ("SIE", "sie", ["backbone", "invariant", "equivariant"])]:
        ssl = dataclasses.replace(base, method=method)
        rows += sie_rows(label, method, trained(ssl, data), parts, command_of(ssl))
    columns = ["row", "part", "linear_acc", "knn_acc", "pair_rotation_r2", "pair_colour_r2", "pair_rotation_r2_wide",
               "rotation_r2", "colour_r2",
               "retrieval_top1", "retrieval_mrr",
               "own_predictor_top1", "own_predictor_mrr", "rotation_retrieval_top1", "own_predictor_rotation_top1",
               "train_seconds"]
    notes = (
        f"rotated-digits: the 5000 mnist-5k digits rendered in colour on a black 32 px canvas at a known angle "
        f"(uniform in +-90 degrees) and hue (uniform), {len(data[0])} train / {len(data[1])} test. Every row: "
        f"SmallConvNet (widths 32-64-128, 128 features), {base.steps} steps of {base.batch_size}, AdamW lr {base.lr} "
        f"(warm-up {base.warmup_steps}, cosine), fp32, seed {base.seed}, {base.threads} torch thread(s) on a 2-core "
        "machine shared with other engineers' jobs (train_seconds indicative only). Views: each image rotated by "
        "U(-90, 90) degrees and hue-shifted by U(-0.5, 0.5) turns, twice; SIE also gets the relative parameters "
        "(cos, sin of the angle and of twice the angle, cos, sin of 2 pi x the hue shift). SIE: features split 64 invariant / 64 equivariant, "
        "invariant expander 512 x 3, equivariant expander 512-512-64, hypernetwork predictor linear in the "
        "parameters W(t) = sum_i t_i A_i (no bias, W(identity) = I at initialisation), loss 10 inv + 4.5 pred + "
        "10 var (each part) + 10 var (predictions) + 1 cov (whole embedding), the paper's weights. VICReg: "
        "expander 512 x 3, 25 / 25 / 1. linear_acc / knn_acc: the library's frozen "
        "evaluation of each part on the test renderings. pair_rotation_r2 / pair_colour_r2 (the paper's measure): an "
        "MLP probe (128 hidden) from the concatenated frozen features of two transformed copies of a rendering (each "
        "rotated U(-45, 45) degrees, so that the relative angle, within +-90, is not confused with its half-turn, "
        "and hue-shifted U(-0.5, 0.5)) to (cos, sin) of the relative angle / of 2 pi x the relative hue shift, "
        f"fitted on {base.eval_images} training renderings, R^2 on the test renderings; pair_rotation_r2_wide: the "
        "same with copies rotated U(-90, 90) degrees, as the views (relative angles up to 180 degrees, where "
        "axial stroke features cannot tell d from d + 180). rotation_r2 / colour_r2: the same probe from one "
        "rendering's features to (cos, sin) of its own "
        "angle / of 2 pi x its hue. retrieval: each test rendering transformed 8 times "
        "(angle U(-90, 90) degrees, hue shift U(-0.5, 0.5)); an affine HyperPredictor (W(t) = A_0 + sum_i t_i "
        "A_i) fitted on the frozen features of training renderings and their transformed copies predicts each "
        "copy's features from the original's, "
        "ranked by cosine among the 8 copies of the same rendering (chance: top-1 0.125, MRR 0.340; without a "
        "predictor exactly chance). own_predictor_*: SIE's trained predictor on its equivariant embeddings. "
        "rotation_retrieval_top1 / own_predictor_rotation_top1: the same retrieval among 8 copies that differ by "
        "their rotation only (no hue shift), through the same predictors (chance 0.125).")
    return write_result(
        config.out_dir, "sie_mcjepa_sie" + (f"_seed{config.seed}" if config.seed else ""),
        "JEPA family: SIE vs VICReg, invariant and equivariant parts (rotated-digits, ConvNet)",
        "Same backbone, views and budget: is rotation / colour predictable from SIE's equivariant part and not from "
        "its invariant part (nor from VICReg), and does a transformation applied through a predictor retrieve the "
        "transformed image?", config, columns, rows, notes=notes)


def table_mcjepa(config: Config) -> Path:
    base = base_config(config, "digits" if config.quick else "mnist-5k")
    data = load_ssl_data(base.dataset, None, base.test_fraction, image_size=16 if config.quick else None)
    if config.quick:
        base = dataclasses.replace(base, image_size=16)
    pairs = evaluation_video(data[1], count=base.eval_images)
    baselines = baseline_measures(pairs)
    rows = [
        {"row": "zero flow", "flow_epe": baselines["zero_flow_epe"], "flow_epe_digit": baselines["zero_flow_epe_digit"],
         "flow_epe_background": baselines["zero_flow_epe_background"]},
        {"row": "Lucas-Kanade (classical)", "flow_epe": baselines["lucas_kanade_epe"],
         "flow_epe_digit": baselines["lucas_kanade_epe_digit"],
         "flow_epe_background": baselines["lucas_kanade_epe_background"]},
    ]
    floor = classification(untrained_backbone(base, data), data, base.seed)
    rows.append({"row": "untrained ConvNet (content floor)", "linear_acc": floor["linear_acc"],
                 "knn_acc": floor["knn_acc"]})
    for label, method in [("VICReg (content only)", "vicreg"), ("MC-JEPA (content + flow)", "mc-jepa")]:
        ssl = dataclasses.replace(base, method=method)
        summary = trained(ssl, data)
        rows.append({"row": label, "method": method, "flow_epe": summary.get("flow_epe"),
                     "flow_epe_digit": summary.get("flow_epe_digit"),
                     "flow_epe_background": summary.get("flow_epe_background"), "linear_acc": summary["linear_acc"],
                     "knn_acc": summary["knn_acc"], "train_seconds": summary["train_seconds"],
                     "command": command_of(ssl)})
    columns = ["row", "flow_epe", "flow_epe_digit", "flow_epe_background", "linear_acc", "knn_acc", "train_seconds"]
    notes = (
        f"Content: {base.dataset} ({len(data[0])} train / {len(data[1])} test), digit views. Flow: test video of "
        f"{len(pairs)} frame pairs, one per test digit (28 px tile, shifted by up to 3 px) drawn at full brightness "
        "over a grey photo texture (grass, gravel, brick, chelsea, immunohistochemistry, astronaut, coffee; 0.7 "
        "contrast), digit speed U(-3, 3) px and background speed U(-2, 2) px per axis, exact flow; textures are other "
        "crops than the training frames'. EPE in pixels over all pixels / the digit (alpha >= 0.5) / the background. "
        f"Every trained row: SmallConvNet (widths 32-64-128), {base.steps} steps of {base.batch_size}, AdamW lr {base.lr} "
        f"(warm-up {base.warmup_steps}, cosine), fp32, seed {base.seed}, expander 512 x 3, {base.threads} torch "
        "thread(s) on a 2-core machine shared with other engineers' jobs. MC-JEPA: the same VICReg loss on the content "
        "views plus, on a frame pair per image, a coarse-to-fine flow estimator on the 4x4, 7x7, 14x14 and 28x28 "
        "levels of the same ConvNet (correlation radius 2, residual flow per level), loss 10 x photometric (Charbonnier, "
        "every level) + feature reconstruction + 0.02 x edge-aware smoothness + 0.04 x variance-covariance of every level's cell "
        "vectors; the encoder is trained by both objectives. Lucas-Kanade: 1 level, 10 iterations, Gaussian window "
        "sigma 2.5 px (chosen on a validation video of training digits among 1-3 levels and sigma 1.5-4).")
    return write_result(
        config.out_dir, "sie_mcjepa_mcjepa" + (f"_seed{config.seed}" if config.seed else ""),
        "JEPA family: MC-JEPA vs VICReg, motion and content (moving digits / mnist-5k, ConvNet)",
        "One encoder, two objectives: does MC-JEPA estimate optical flow better than zero flow and a classical "
        "Lucas-Kanade, while keeping VICReg's content accuracy?", config, columns, rows, notes=notes)


def main(config: Config) -> list[Path]:
    torch.set_num_threads(config.threads)
    tables = ("sie", "mc-jepa") if config.table == "all" else (config.table,)
    return [table_sie(config) if table == "sie" else table_mcjepa(config) for table in tables]


if __name__ == "__main__":
    main(tyro.cli(Config))
