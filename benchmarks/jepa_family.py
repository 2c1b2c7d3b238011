"""I-JEPA and VICRegL, each measured on the property it exists for, against VICReg.

Tables (``--table``; ``all`` runs both):

    ijepa     mnist-5k, one small ViT, one budget (steps x batch): linear and k-NN accuracy of
              I-JEPA (representation prediction) vs the same masks / predictor predicting pixels
              (``ijepa-pixels``, MAE-style) vs VICReg; I-JEPA also at about VICReg's CPU time, and
              evaluated through its EMA target encoder (the encoder the paper evaluates). Floor: the
              untrained ViT. The I-JEPA paper's claim: predicting representations beats pixels.
    ijepa-photo   the same on photo-patches (scikit-image photo crops, 32 px RGB, 8x8 patches), without
              the long I-JEPA row.
    vicregl   texture-scenes (``hjepa.data.segmentation``: a photo texture with a shape filled with
              another photo's texture, exact masks, 10 pixel classes), same backbone and budget:
              linear segmentation probe on frozen local features (mIoU) and image classification
              (linear / k-NN on the background photograph) of VICReg vs VICRegL with alpha 0.75 and
              0.9. Floor: the untrained backbone. The VICRegL paper's claim: better mIoU,
              classification within a few points.

Every SSL row is ``hjepa.ssl.trainer.train_ssl`` in a temporary run directory, then the library's
frozen evaluation (``summary.json``'s numbers), then the extra evaluations from its checkpoint.

    python benchmarks/jepa_family.py --table all            # ~40 min at 1 thread on a busy 2-core CPU
    python benchmarks/jepa_family.py --table ijepa --steps 200
    python benchmarks/jepa_family.py --quick                # smoke run (tiny sizes, seconds)

Results: ``<out_dir>/jepa_family_<table>.json``; with ``--append-results`` the tables are also
appended to ``benchmarks/RESULTS.md`` (nothing already there is rewritten).
"""

from __future__ import annotations

import dataclasses
import shlex
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import tyro

from common import RESULTS_DIR, write_result
from hjepa.data.images import ImageDataset
from hjepa.data.segmentation import SegmentationDataset, texture_scenes
from hjepa.eval.classify import feature_report
from hjepa.eval.segmentation import encoder_maps, linear_segmentation_miou
from hjepa.runs.run_dir import RunDir, load_checkpoint
from hjepa.ssl.build import build_backbone
from hjepa.ssl.config import SSLTrainConfig, build_ssl_model, derived_seeds
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.evaluation import dataset_features
from hjepa.ssl.feature_maps import FeatureMapEncoder
from hjepa.ssl.method import SSLMethod
from hjepa.ssl.trainer import train_ssl

TableName = Literal["ijepa", "ijepa-photo", "vicregl", "all"]
SCENES_SEED = 0
SCENES_TEST_FRACTION = 0.2
ORACLE_MIOU = {"8x8": 0.96, "4x4": 0.89}
"""mIoU of the upsampled true class fractions of each cell (2000 texture-scenes images)."""
GLOBAL_MIOU = 0.60
"""mIoU of labelling every pixel with the image's (background) class: a perfect global classifier."""


@dataclass(frozen=True)
class Config:
    """I-JEPA / VICRegL benchmark tables on a CPU."""

    table: TableName = "all"
    """Which table (all: ijepa, ijepa-photo, vicregl)."""
    steps: int = 300
    """Training steps of every row (the I-JEPA time-matched row: ijepa_long_steps)."""
    ijepa_long_steps: int = 700
    """Steps of the extra I-JEPA row, about VICReg's CPU time at `steps` (I-JEPA's step is cheaper)."""
    batch_size: int = 128
    """Batch size of every row."""
    width: int = 64
    """ViT width of every row (depth 4, 4 heads; 7x7 patches at 28 px, 8x8 at 32 px)."""
    scenes: int = 5000
    """Images of the texture-scenes dataset (80% train / 20% test)."""
    seg_backbone: Literal["vit", "convnet"] = "vit"
    """Backbone of the vicregl table (vit: width `width`, 8x8 token map; convnet: default width, 4x4 map)."""
    threads: int = 1
    """Torch threads (1 on a shared machine)."""
    seed: int = 0
    quick: bool = False
    """Tiny smoke sizes (quality meaningless)."""
    progress: bool = False
    """Progress bars of each run."""
    out_dir: Path = RESULTS_DIR
    """Where jepa_family_<table>[_<backbone>][_seed<N>].json are written."""
    append_results: bool = False
    """Also append the tables to benchmarks/RESULTS.md."""


def seed_suffix(config: Config) -> str:
    """``_seed<N>`` in result file names of seeds other than 0 (so a repeat keeps the first run)."""
    return f"_seed{config.seed}" if config.seed else ""


def base_config(config: Config, dataset: str) -> SSLTrainConfig:
    base = SSLTrainConfig(
        dataset=dataset, backbone="vit", width=config.width, steps=config.steps, batch_size=config.batch_size,
        precision="fp32", threads=config.threads, seed=config.seed, progress=config.progress,
        checkpoint_every=0, log_every=50,
    )
    if config.quick:
        base = dataclasses.replace(base, width=8, projector_dim=16, steps=3, batch_size=32, warmup_steps=1,
                                   rank_images=128)
    return base


def cli_command(ssl: SSLTrainConfig, name: str) -> str:
    """The ``hjepa ssl train`` line of ``ssl`` (fields that differ from the defaults)."""
    default = SSLTrainConfig().to_dict()
    args = ["hjepa", "ssl", "train", "--name", name]
    for key, value in ssl.to_dict().items():
        if value == default[key] or key in ("checkpoint_every", "log_every"):
            continue
        flag = "--" + key.replace("_", "-")
        args += ([flag] if value else ["--no-" + key.replace("_", "-")]) if isinstance(value, bool) else [flag, str(value)]
    return shlex.join(args)


def trained(ssl: SSLTrainConfig, data: tuple[ImageDataset, ImageDataset]) -> tuple[dict, SSLMethod]:
    """Train one row in a temporary run directory: ``(summary, method with the final weights)``."""
    print(f"[{time.strftime('%H:%M:%S')}] {ssl.method} {ssl.steps} steps", flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir.create(tmp, "row")
        summary = train_ssl(ssl, run, data=data)
        state = load_checkpoint(run.path("checkpoints/last.pt"))
    channels, size, _ = data[0].image_shape
    method, _ = build_ssl_model(ssl, channels, size)
    method.load_state_dict(state["method"])
    summary = {**summary, "wall_seconds": time.perf_counter() - start}
    print(f"    linear {summary['linear_acc']:.4f} knn {summary['knn_acc']:.4f} train {summary['train_seconds']:.0f} s",
          flush=True)
    return summary, method


def untrained(ssl: SSLTrainConfig, data: tuple[ImageDataset, ImageDataset]) -> tuple[dict, torch.nn.Module]:
    """The randomly initialised backbone of ``ssl`` (same seed) and its frozen classification report."""
    channels, size, _ = data[0].image_shape
    torch.manual_seed(ssl.seed)
    backbone = build_backbone(ssl.backbone, channels, size, ssl.width)
    return classification(backbone, data, ssl.seed), backbone


def classification(encoder: torch.nn.Module, data: tuple[ImageDataset, ImageDataset], seed: int) -> dict:
    train, test = data
    train_x, test_x = dataset_features(encoder, train), dataset_features(encoder, test)
    eval_seed = derived_seeds(seed)[2]
    return feature_report(train_x, train.labels, test_x, test.labels, train.num_classes,
                          torch.Generator().manual_seed(eval_seed))


def row_of(label: str, method: str, summary: dict, command: str) -> dict:
    keys = ("linear_acc", "knn_acc", "semi_10pct_acc", "effective_rank", "collapsed", "train_seconds",
            "images_per_second", "steps", "batch_size")
    return {"row": label, "method": method, **{k: summary.get(k) for k in keys}, "command": command}


def table_ijepa(config: Config, photo: bool = False) -> Path:
    """The ijepa table on mnist-5k, or (``photo``) on photo-patches without the long I-JEPA row."""
    base = base_config(config, "digits" if config.quick else "photo-patches" if photo else "mnist-5k")
    size = 28 if config.quick else None
    data = load_ssl_data(base.dataset, None, base.test_fraction, image_size=size)
    rows = []
    report, _ = untrained(base, data)
    rows.append(row_of("untrained ViT (floor)", "-", {**report, "steps": 0}, "random initialisation, seed 0"))
    long_steps = 6 if config.quick else config.ijepa_long_steps
    plan = [("I-JEPA", "ijepa", base.steps), ("pixel prediction, same masks (MAE-style)", "ijepa-pixels", base.steps),
            ("VICReg", "vicreg", base.steps),
            ("I-JEPA + variance-covariance on the pooled context (ijepa-vc)", "ijepa-vc", base.steps)]
    if not photo:
        plan.append((f"I-JEPA, {long_steps} steps (~VICReg's CPU time)", "ijepa", long_steps))
        plan.append((f"ijepa-vc, {long_steps} steps", "ijepa-vc", long_steps))
    for label, method, steps in plan:
        ssl = dataclasses.replace(base, method=method, steps=steps)
        if size is not None:
            ssl = dataclasses.replace(ssl, image_size=size)
        summary, model = trained(ssl, data)
        row = row_of(label, method, summary, cli_command(ssl, f"bench-{method}-{steps}"))
        if method in ("ijepa", "ijepa-vc"):  # the paper evaluates the EMA target encoder
            target = classification(model.target.module, data, ssl.seed)
            row.update({"target_linear_acc": target["linear_acc"], "target_knn_acc": target["knn_acc"]})
        rows.append(row)
    columns = ["row", "method", "steps", "linear_acc", "knn_acc", "target_linear_acc", "target_knn_acc",
               "semi_10pct_acc", "effective_rank", "train_seconds", "images_per_second"]
    channels, side, _ = data[0].image_shape
    grid = f"{side // 4}x{side // 4}"
    views = "digit views" if channels == 1 else "BYOL views"
    notes = (f"Every row: {base.dataset} ({len(data[0])} train / {len(data[1])} test), ViT width {base.width} depth 4 "
             f"({grid} patches of 4 px), {base.steps} steps (unless named) of batch {base.batch_size}, AdamW lr {base.lr} "
             f"(warm-up {base.warmup_steps}, cosine), fp32, seed "
             f"{base.seed}, {base.threads} torch thread(s) on a 2-core machine shared with other experiments "
             "(train_seconds indicative only). I-JEPA and pixel prediction: no augmentation, multi-block masks "
             "(4 targets of scale 0.15-0.2, aspect 0.75-1.5; context 0.85-1.0 minus the targets), predictor width "
             f"{base.width // 2} depth 3; I-JEPA's EMA momentum 0.996 -> 1 (cosine); ijepa-vc adds {base.vc_weight} x "
             "VICReg's variance-covariance terms (25 var + 1 cov) on the mean context token; pixel targets normalised per "
             f"patch. VICReg: {views}, projector {base.projector_dim} x 3. linear_acc / knn_acc: the library's frozen "
             "evaluation of the context encoder (backbone) on whole images; target_*: the same for I-JEPA's EMA "
             "target encoder. Commands: `hjepa ssl train` lines in the JSON.")
    return write_result(
        config.out_dir, ("jepa_family_ijepa_photo" if photo else "jepa_family_ijepa") + seed_suffix(config),
        f"JEPA family: I-JEPA vs pixel prediction vs VICReg ({base.dataset}, ViT)",
        "Same small ViT, same steps and batch: does predicting representations (I-JEPA) beat predicting pixels "
        "with the same masks and predictor (MAE-style), and how does it compare with VICReg?",
        config, columns, rows, notes=notes)


def load_scenes(config: Config) -> tuple[SegmentationDataset, SegmentationDataset]:
    count = 200 if config.quick else config.scenes
    scenes = texture_scenes(count=count, generator=torch.Generator().manual_seed(SCENES_SEED))
    return scenes.split(SCENES_TEST_FRACTION, torch.Generator().manual_seed(SCENES_SEED))


def segmentation(encoder: torch.nn.Module, train: SegmentationDataset, test: SegmentationDataset) -> dict:
    local = FeatureMapEncoder(encoder)
    train_maps = encoder_maps(local, train.images.float_images())
    test_maps = encoder_maps(local, test.images.float_images())
    return linear_segmentation_miou(train_maps, train.masks, test_maps, test.masks, train.num_classes)


def table_vicregl(config: Config) -> Path:
    train, test = load_scenes(config)
    data = (train.images, test.images)
    base = base_config(config, "photo-patches")  # the dataset name is unused: the data is passed in
    if config.seg_backbone == "convnet":
        base = dataclasses.replace(base, backbone="convnet", width=4 if config.quick else None)
    vit = base.backbone == "vit"
    net = f"ViT width {base.width} depth 4 (8x8 token map)" if vit else f"SmallConvNet width {base.width or 32} (4x4 map)"
    grid = "8x8" if vit else "4x4"
    rows = []
    report, backbone = untrained(base, data)
    rows.append({**row_of(f"untrained {base.backbone} (floor)", "-", {**report, "steps": 0},
                          "random initialisation, seed 0"), **segmentation(backbone, train, test)})
    for label, method in [("VICReg", "vicreg"), ("VICRegL alpha 0.75", "vicregl"),
                          ("VICRegL alpha 0.9", "vicregl-alpha0.9")]:
        ssl = dataclasses.replace(base, method=method)
        summary, model = trained(ssl, data)
        command = (f"train_ssl(SSLTrainConfig(method={method!r}, backbone={ssl.backbone!r}, width={ssl.width}, "
                   f"steps={ssl.steps}, batch_size={ssl.batch_size}, precision='fp32', seed={ssl.seed}), "
                   f"data=texture_scenes({config.scenes}) split)")
        rows.append({**row_of(label, method, summary, command), **segmentation(model.backbone, train, test)})
    for row in rows:
        row["class_iou"] = [round(v, 4) for v in row["class_iou"]]
        row.pop("foreground_iou")  # class 0 is a photograph here, not a background
    columns = ["row", "method", "miou", "pixel_acc", "linear_acc", "knn_acc", "effective_rank",
               "train_seconds", "images_per_second"]
    notes = (
        f"texture-scenes: {len(train) + len(test)} images of 32 px (a texture of one of 10 scikit-image photos with an "
        f"ellipse or rectangle filled with another's, seed {SCENES_SEED}), {len(train)} train / {len(test)} test. "
        f"Every row: {net}, {base.steps} steps of "
        f"{base.batch_size}, AdamW lr {base.lr} (warm-up {base.warmup_steps}, cosine), fp32, seed {base.seed}, "
        f"BYOL views (crop, flip, colour jitter, grayscale, blur, solarize), projector {base.projector_dim} x 3; "
        f"VICRegL: local expander {min(base.projector_dim, 128)} x 2, 40% of the {grid} cells matched per direction "
        f"by image location and by embedding, loss alpha * global + (1 - alpha) * local; {base.threads} torch "
        "thread(s) on a 2-core machine shared with other experiments. miou: linear probe (1x1 conv, L-BFGS, soft "
        f"cell targets) on the frozen {grid} map, logits upsampled bilinearly to 32x32, mean IoU over the 10 pixel "
        f"classes (photographs) on the test images; an oracle that knows each {grid} cell's class fractions reaches "
        f"mIoU {ORACLE_MIOU[grid]} (the ceiling of this probe), labelling every pixel with the image's class "
        f"{GLOBAL_MIOU} (what perfect global features alone give). linear_acc / knn_acc: classification of the "
        "image's background photograph from the pooled features (the library's frozen evaluation). Per-class IoUs "
        "are in the JSON.")
    return write_result(
        config.out_dir, f"jepa_family_vicregl_{base.backbone}" + seed_suffix(config),
        f"JEPA family: VICRegL vs VICReg, local features (texture-scenes, {base.backbone})",
        "Same backbone and budget: does VICRegL's local term improve a linear segmentation probe on frozen local "
        "features (mIoU) while keeping image classification within a few points of VICReg?",
        config, columns, rows, notes=notes)


def append_to_results(paths: list[Path], results_md: Path) -> None:
    """Append one section per result file to RESULTS.md (``update_results.section``'s format)."""
    import json

    from update_results import section

    with results_md.open("a") as handle:
        for path in paths:
            handle.write("\n" + section(json.loads(path.read_text())))
    print(f"appended {len(paths)} section(s) to {results_md}")


def main(config: Config) -> list[Path]:
    torch.set_num_threads(config.threads)
    tables = ("ijepa", "ijepa-photo", "vicregl") if config.table == "all" else (config.table,)
    paths = []
    for table in tables:
        if table == "vicregl":
            paths.append(table_vicregl(config))
        else:
            paths.append(table_ijepa(config, photo=table == "ijepa-photo"))
    if config.append_results:
        append_to_results(paths, RESULTS_DIR.parent / "RESULTS.md")
    return paths


if __name__ == "__main__":
    main(tyro.cli(Config))
