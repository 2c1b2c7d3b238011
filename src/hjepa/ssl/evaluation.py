"""Frozen evaluation of a self-supervised encoder, its report, and ``evaluate_ssl`` for checkpoints.

After training, the backbone is frozen and read out on the train / test splits with
``hjepa.eval.classify.feature_report``: linear probe, weighted k-NN, linear probes on 1% and 10% of
the labels, and the RankMe effective rank / collapse verdict of the training features. The rank is
also computed on the *projector embeddings* (what the SSL loss sees), since a projector can
collapse while the backbone keeps a high rank and vice versa; the summary's ``effective_rank`` is
the backbone's, ``embedding_effective_rank`` the projector's.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import Tensor

from hjepa.data.images import ImageDataset
from hjepa.errors import InputError
from hjepa.eval.classify import extract_features, knn_accuracy, linear_probe_accuracy, semi_supervised_accuracy
from hjepa.eval.rank import collapse_verdict
from hjepa.eval.spectrum import plot_spectrum, singular_value_spectrum
from hjepa.nn.modes import eval_mode
from hjepa.runs.distributed import resolve_device
from hjepa.runs.metrics import read_metrics
from hjepa.runs.plots import plot_training_curves
from hjepa.runs.progress import Stages
from hjepa.runs.report import markdown_table, write_report
from hjepa.runs.run_dir import METRICS_FILE, RunDir, load_checkpoint
from hjepa.ssl.config import CHECKPOINT_FORMAT, SSLTrainConfig, build_ssl_model, derived_seeds
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.method import SSLMethod
from hjepa.ssl.property_measures import property_measures
from hjepa.ssl.view_makers import ViewMaker

CHUNK = 4096
"""Images converted to float at a time (uint8 -> float32 of a whole CIFAR would take 600 MB)."""


def dataset_features(encoder: torch.nn.Module, dataset: ImageDataset, batch_size: int = 512,
                     channels_last: bool = False) -> Tensor:
    """Frozen ``encoder`` features of every image: ``float32 (N, F)`` on the CPU."""
    parts = []
    for start in range(0, len(dataset), CHUNK):
        images = dataset.float_images(slice(start, start + CHUNK))
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        parts.append(extract_features(encoder, images, batch_size).float().cpu())
    return torch.cat(parts)


def _chunks(count: int, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` bounds covering ``count`` rows, none holding a single row (batch statistics)."""
    bounds = [(a, min(a + size, count)) for a in range(0, count, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], count)]
    return bounds


@torch.no_grad()
def view0_embeddings(method: SSLMethod, views: ViewMaker, dataset: ImageDataset, count: int,
                     device: torch.device, seed: int, batch_size: int = 512) -> Tensor:
    """Projector embeddings of the first ``count`` images, un-augmented: ``float32 (count, E)``.

    The method only embeds through ``forward(views)``, so each batch is given the views its recipe
    makes (drawn with a generator seeded by ``seed``) with view 0 replaced by the image itself; the
    method runs in eval mode and its state (e.g. LeJEPA's direction counter) is restored after.
    """
    count = min(count, len(dataset))
    if count < 2:
        raise InputError(f"need at least 2 images for embedding statistics, got {count}")
    generator = torch.Generator().manual_seed(seed)
    saved = {k: v.clone() if isinstance(v, Tensor) else v for k, v in method.state_dict().items()}
    parts = []
    try:
        with eval_mode(method):
            for start, end in _chunks(count, batch_size):
                images = dataset.float_images(slice(start, end))
                batch = views(images, generator)
                batch[0] = images
                parts.append(method([v.to(device) for v in batch]).embeddings.float().cpu())
    finally:
        method.load_state_dict(saved)
    return torch.cat(parts)


ENCODER_STAGES = 7
"""Stages ``frozen_evaluation`` reports per encoder: features of each split, rank, linear probe,
k-NN, semi-supervised probes on 1% and on 10% of the labels."""


def frozen_stage_count(method: SSLMethod, embeddings_given: bool = False) -> int:
    """How many stages ``frozen_evaluation`` reports (for ``Stages(total, ...)``)."""
    return ENCODER_STAGES * len(method.encoders()) + (0 if embeddings_given else 1)


def _staged_feature_report(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int,
                           generator: torch.Generator, stages: Stages, prefix: str = "") -> dict:
    """``hjepa.eval.classify.feature_report``, the same numbers computed in the same order, with each
    measurement as a stage (the probes take most of the time)."""
    stages.start(f"{prefix}rank")
    verdict = collapse_verdict(train_x)
    stages.start(f"{prefix}linear probe")
    report = {"linear_acc": linear_probe_accuracy(train_x, train_y, test_x, test_y, num_classes)}
    stages.start(f"{prefix}k-NN")
    report["knn_acc"] = knn_accuracy(train_x, train_y, test_x, test_y, num_classes)
    for fraction, key in ((0.01, "semi_1pct_acc"), (0.10, "semi_10pct_acc")):
        stages.start(f"{prefix}semi-supervised {fraction:.0%}")
        report[key] = semi_supervised_accuracy(train_x, train_y, test_x, test_y, num_classes, fraction, generator)
    report.update({k: verdict[k] for k in ("effective_rank", "collapsed", "median_std")})
    return report


def frozen_evaluation(method: SSLMethod, views: ViewMaker, train: ImageDataset, test: ImageDataset,
                      device: torch.device, seed: int, rank_images: int = 4096,
                      channels_last: bool = False, embeddings: Tensor | None = None,
                      stages: Stages | None = None) -> tuple[dict, dict[str, Tensor]]:
    """Evaluate every encoder of ``method`` frozen; returns ``(results, spectra)``.

    ``embeddings``: ``view0_embeddings(method, views, train, rank_images, device, seed)`` when
    already computed (in a distributed run every process must compute them together, since the
    method's loss gathers across processes; the rest runs on rank 0 alone).

    ``results``: ``feature_report`` of the first encoder (``linear_acc``, ``knn_acc``,
    ``semi_1pct_acc``, ``semi_10pct_acc``, ``effective_rank``, ``collapsed``, ``median_std``), plus
    ``embedding_effective_rank``, ``embedding_collapsed``, ``embedding_median_std`` of the projector
    embeddings of ``rank_images`` training images, ``feature_dim``, ``embedding_dim``, and when the
    method has several encoders ``encoders: {name: report}``. ``spectra``: normalised singular
    values of the embeddings and of the backbone features of the same images.

    ``stages``: progress to report to, ``frozen_stage_count(method, embeddings is not None)``
    stages of it (the caller closes it); None reports nothing.
    """
    stages = stages if stages is not None else Stages(0, enabled=False)
    reports: dict[str, dict] = {}
    first_features: Tensor | None = None
    encoders = method.encoders()
    for name, encoder in encoders.items():
        prefix = f"{name} " if len(encoders) > 1 else ""
        stages.start(f"{prefix}train features")
        train_x = dataset_features(encoder, train, channels_last=channels_last)
        stages.start(f"{prefix}test features")
        test_x = dataset_features(encoder, test, channels_last=channels_last)
        reports[name] = _staged_feature_report(train_x, train.labels, test_x, test.labels, train.num_classes,
                                               torch.Generator().manual_seed(seed), stages, prefix)
        if first_features is None:
            first_features = train_x
    assert first_features is not None, "method.encoders() returned no encoder"
    if embeddings is None:
        stages.start("projector embeddings")
        embeddings = view0_embeddings(method, views, train, rank_images, device, seed)
    verdict = collapse_verdict(embeddings)
    results = dict(next(iter(reports.values())))
    results.update({
        "embedding_effective_rank": verdict["effective_rank"],
        "embedding_collapsed": verdict["collapsed"],
        "embedding_median_std": verdict["median_std"],
        "feature_dim": int(first_features.shape[1]),
        "embedding_dim": int(embeddings.shape[1]),
    })
    if len(reports) > 1:
        results["encoders"] = reports
    spectra = {
        "projector embeddings": singular_value_spectrum(embeddings),
        "backbone features": singular_value_spectrum(first_features[: embeddings.shape[0]]),
    }
    return results, spectra


RESULT_COLUMNS = ["linear_acc", "knn_acc", "semi_1pct_acc", "semi_10pct_acc", "effective_rank",
                  "embedding_effective_rank", "collapsed"]
CURVE_KEYS = ("loss", "lr", "images_per_second", "probe/train_acc", "eval/knn_acc", "eval/probe_acc")


def write_ssl_outputs(run: RunDir, summary: dict, spectra: dict[str, Tensor], title: str, notes: str) -> None:
    """``summary.json``, ``spectrum.png``, ``training_curves.png`` (when metrics were logged) and
    ``report.md`` with the results table."""
    run.write_json("summary.json", summary)
    plot_spectrum(spectra, run.path("spectrum.png"), title=f"{summary['method']} on {summary['dataset']}")
    files = ["config.json", "summary.json", "spectrum.png", "report.md"]
    if run.path(METRICS_FILE).is_file():
        metrics = read_metrics(run.path(METRICS_FILE))
        present = {k for record in metrics for k in record}
        keys = [k for k in present if k.startswith("loss/")]
        keys = [k for k in CURVE_KEYS if k in present] + sorted(keys)
        if keys:
            plot_training_curves(metrics, keys, run.path("training_curves.png"))
            files += ["metrics.jsonl", "training_curves.png", "checkpoints/last.pt"]
    row = {"method": summary["method"], "dataset": summary["dataset"], "backbone": summary["backbone"]}
    rows = [{"encoder": name, **report} for name, report in summary.get("encoders", {}).items()]
    if not rows:
        rows = [{"encoder": "backbone", **summary}]
    table = markdown_table([{**row, **r} for r in rows],
                           ["method", "dataset", "backbone", "encoder"] + RESULT_COLUMNS, float_fmt=".4g")
    sections = [
        ("Results", table + "\nFrozen encoder: linear probe (L-BFGS logistic regression), weighted k-NN "
         "(k=20), linear probes on 1% / 10% of the training labels; effective rank = RankMe of the "
         "training features (backbone) and of the projector embeddings."),
        ("Run", notes),
        ("Files", ", ".join(files) + "."),
    ]
    write_report(run.path("report.md"), title, sections)
    run.publish_figures()


def evaluate_ssl(checkpoint: Path, name: str = "ssl-eval", runs_root: Path = Path("runs"),
                 overwrite: bool = False, device: str = "auto", threads: int = 0, progress: bool = True) -> dict:
    """Rebuild the encoder of an SSL checkpoint and re-run the frozen evaluation into a new run.

    The checkpoint's stored config gives the method, backbone and dataset. Inputs are read before
    ``<runs_root>/<name>`` is created, so a bad checkpoint leaves no run directory behind.
    ``progress``: show the stages on stderr (``hjepa.runs.progress``; ``HJEPA_PROGRESS=0`` also hides them).

    Raises:
        FileNotFoundError / ValueError: missing, corrupt or foreign checkpoint; weights that do
            not fit the stored architecture.
        FileExistsError: the run exists and not ``overwrite``.
    """
    start = time.perf_counter()
    if threads > 0:
        torch.set_num_threads(threads)
    state = load_checkpoint(checkpoint)
    if state.get("format") != CHECKPOINT_FORMAT or "config" not in state or "method" not in state:
        raise InputError(f"{checkpoint} is not an SSL training checkpoint (format {state.get('format')!r})")
    config = SSLTrainConfig.from_dict(state["config"])
    train, test = load_ssl_data(config.dataset, config.data_root, config.test_fraction, config.image_size,
                                config.folder_channels)
    channels, size, _ = train.image_shape
    torch.manual_seed(config.seed)
    method, views = build_ssl_model(config, channels, size)
    try:
        method.load_state_dict(state["method"])
    except RuntimeError as error:
        raise InputError(f"{checkpoint}: weights do not match the stored architecture: {error}") from error
    resolved = resolve_device(device)
    method.to(resolved)
    run = RunDir.create(runs_root, name, overwrite=overwrite)
    run.write_config({"checkpoint": str(checkpoint), "device": device, "threads": threads, "resolved": config.to_dict()}, "ssl eval")
    eval_seed = derived_seeds(config.seed)[2]  # the seed of the evaluation at the end of training
    stages = Stages(frozen_stage_count(method) + 1, "ssl eval", enabled=progress)
    results, spectra = frozen_evaluation(method, views, train, test, resolved, eval_seed, config.rank_images,
                                         config.channels_last, stages=stages)
    stages.start("property measures")
    results.update(property_measures(method, config, train, test, eval_seed))
    stages.close()
    summary = {
        **results, "method": config.method, "dataset": config.dataset, "backbone": config.backbone,
        "checkpoint": str(checkpoint), "steps": int(state.get("step", 0)),
        "train_images": len(train), "test_images": len(test), "eval_seconds": time.perf_counter() - start,
    }
    notes = (f"Checkpoint {checkpoint} (step {summary['steps']}), {len(train)} training and {len(test)} test "
             f"images, evaluated in {summary['eval_seconds']:.1f} s on {resolved}.")
    write_ssl_outputs(run, summary, spectra, f"SSL evaluation: {name}", notes)
    return summary
