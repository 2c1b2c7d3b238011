"""Image SSL tables, measured: the VICReg paper's ablations at small scale, methods side by side,
the VICReg linear-probe target, and training throughput per backbone and precision.

Every row is one training run (``hjepa.ssl.trainer.train_ssl``, in-process, nothing written to
``runs/``) followed by the library's frozen evaluation, so each row's ``command`` (an
``hjepa ssl train`` line) reproduces it with a run directory. All rows of a table share one config
except the method (same dataset, backbone, steps, batch, optimiser, precision, seed).

Tables (``--table``; ``all`` runs them in this order, throughput last):

    table5          VICReg Table 5: loss terms Inv / Inv+Cov / Inv+Var / Inv+Var+Cov
                    (vicreg-inv, vicreg-inv-cov, vicreg-inv-var, vicreg): collapse or not.
    table3          VICReg Table 3: variance / covariance regularisation keeps SimSiam and BYOL
                    from collapsing without their predictor or stop-gradient.
    methods         vicreg, barlow, simclr, byol, simsiam, lejepa, plus a random-init encoder
                    (floor) and a supervised one (ceiling, ``hjepa.ssl.baselines``), same budget.
    vicreg-target   VICReg linear probe >= 97% on held-out mnist-5k digits within 10 CPU minutes
                    of training: the default config and the tuned one (``TARGET_OVERRIDES``).
    throughput      images/s of the VICReg training step per backbone (convnet, resnet18, vit at
                    their default widths), fp32 and bf16, at a fixed batch size.

    python benchmarks/ssl_tables.py --table all --steps 300  # ~57 min on 2 CPU cores shared with other jobs
    python benchmarks/ssl_tables.py --table table5 --steps 300
    python benchmarks/ssl_tables.py --table throughput --throughput-threads 2 1
    python benchmarks/ssl_tables.py --table methods --quick  # tiny smoke run (seconds)

Results: ``benchmarks/results/ssl_<table>.json`` (``ssl_vicreg_target.json`` for vicreg-target);
``python benchmarks/update_results.py`` then rebuilds RESULTS.md. Rows repeated between tables
(e.g. ``vicreg`` in table5 and methods) are trained once per invocation; ``--reuse`` also takes
rows whose command is already in a result file of ``--out-dir`` (to re-derive columns or add
rows without retraining), marking them ``reused_from`` / ``measured_by``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import tyro

from common import RESULTS_DIR, median, write_result
from hjepa.runs.metrics import read_metrics
from hjepa.runs.run_dir import METRICS_FILE, RunDir
from hjepa.ssl.baselines import evaluate_random_init, train_supervised
from hjepa.ssl.build import build_backbone
from hjepa.ssl.config import SSLTrainConfig
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.trainer import train_ssl, use_bf16

TableName = Literal["table5", "table3", "methods", "vicreg-target", "throughput", "all"]
TABLES = ("table5", "table3", "methods", "vicreg-target", "throughput")

# (row label, method, collapse expected by the paper)
TABLE5 = [
    ("Inv only", "vicreg-inv", True),
    ("Inv + Cov", "vicreg-inv-cov", True),
    ("Inv + Var", "vicreg-inv-var", False),
    ("Inv + Var + Cov (VICReg)", "vicreg", False),
]
TABLE3 = [
    ("SimSiam", "simsiam", False),
    ("SimSiam, no predictor", "simsiam-no-predictor", True),
    ("SimSiam, no stop-gradient", "simsiam-no-stopgrad", True),
    ("SimSiam, no predictor + Var/Cov", "simsiam-no-predictor-vc", False),
    ("SimSiam, no stop-gradient + Var/Cov", "simsiam-no-stopgrad-vc", False),
    ("BYOL", "byol", False),
    ("BYOL, no predictor", "byol-no-predictor", True),
    ("BYOL, no predictor + Var/Cov", "byol-no-predictor-vc", False),
]
METHOD_ROWS = ["vicreg", "barlow", "simclr", "byol", "simsiam", "lejepa", "random-init", "supervised"]
TARGET_ACCURACY = 0.97
TARGET_SECONDS = 600.0
TARGET_OVERRIDES = {"steps": 800}
"""The tuned VICReg run of the vicreg-target table (config fields; everything else as the base):
the default config (batch 256, AdamW lr 1e-3, projector 512, digit views) just trained 4x longer."""
THROUGHPUT_BACKBONES = ("convnet", "resnet18", "vit")

QUALITY_COLUMNS = ["linear_acc", "knn_acc", "effective_rank", "embedding_effective_rank", "collapsed",
                   "embedding_collapsed"]
COMPLETE_COLLAPSE_STD = 0.01
"""Median per-dimension std of the projector embeddings below which they count as constant
(``hjepa.eval.rank.collapse_verdict``'s threshold for complete collapse)."""
COLLAPSE_RANK = 3.0
"""RankMe of the projector embeddings below which they count as collapsed to a line / plane. Set
after seeing the 300-step tables: collapsed rows gave 2.0-2.1, the lowest other row 3.9."""
TIMING_COLUMNS = ["train_seconds", "images_per_second"]


@dataclass(frozen=True)
class Config:
    """SSL benchmark tables on a CPU."""

    table: TableName = "all"
    """Which table (all: every table, throughput last)."""
    steps: int = 300
    """Training steps of every row of table5, table3 and methods."""
    batch_size: int = 256
    """Batch size of every row of table5, table3 and methods."""
    dataset: str = "mnist-5k"
    """Dataset of the quality tables (built in; mnist-5k: 4000 train / 1000 test digits)."""
    backbone: Literal["convnet", "resnet18", "vit"] = "convnet"
    """Backbone of the quality tables."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """Precision of the quality tables (auto: bf16 autocast on CPUs with native bf16)."""
    threads: int = 1
    """Torch threads of the quality tables (1 on a shared machine)."""
    seed: int = 0
    throughput_batch: int = 64
    """Batch size of the throughput table (resnet18 at width 64 is slow on a CPU)."""
    throughput_steps: int = 5
    """Timed steps per throughput row (after the warm-up steps)."""
    throughput_warmup: int = 2
    """Untimed steps before them."""
    throughput_threads: tuple[int, ...] = (2,)
    """Torch threads of the throughput table: one set of rows per value."""
    reuse: bool = False
    """Take rows already measured with the same command from out_dir's ssl_*.json instead of training
    them again (to re-derive a table's columns); such rows keep their numbers and get reused_from."""
    quick: bool = False
    """Tiny smoke sizes: digits dataset, width 4, projector 16, 3 steps of 32 (quality is meaningless)."""
    progress: bool = False
    """Progress bars of each run."""
    out_dir: Path = RESULTS_DIR
    """Where ssl_<table>.json is written."""


def base_config(config: Config) -> SSLTrainConfig:
    """The SSL config every quality row shares (method set per row)."""
    base = SSLTrainConfig(
        dataset=config.dataset, backbone=config.backbone, steps=config.steps, batch_size=config.batch_size,
        precision=config.precision, threads=config.threads, seed=config.seed, progress=config.progress,
        checkpoint_every=0,
    )
    if config.quick:
        base = dataclasses.replace(base, dataset="digits", width=4, projector_dim=16, steps=3, batch_size=32,
                                   warmup_steps=1, rank_images=128)
    return base


def cli_command(ssl: SSLTrainConfig, name: str) -> str:
    """The ``hjepa ssl train`` line that trains ``ssl`` (fields that differ from the defaults)."""
    default = SSLTrainConfig().to_dict()
    args = ["hjepa", "ssl", "train", "--name", name]
    for key, value in ssl.to_dict().items():
        if value == default[key] or key == "checkpoint_every":
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            args += [flag, str(value)]
    return shlex.join(args)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def load_previous(out_dir: Path) -> dict[str, dict]:
    """Rows of ``out_dir/ssl_*.json`` by command (``--reuse``): ``{**row, "reused_from": "<file> of
    <date>", "measured_by": "`<script command>`, <load-average text of its notes>"}``; rows that were
    reused already keep their own ``reused_from`` / ``measured_by``."""
    previous: dict[str, dict] = {}
    for path in sorted(Path(out_dir).glob("ssl_*.json")):
        stored = json.loads(path.read_text())
        found = re.search(r"load average at start [^)]*", stored.get("notes", ""))
        measured_by = f"`{stored.get('command', '?')}`, {found.group(0) if found else 'load not recorded'}"
        for row in stored.get("rows", []):
            if "command" in row:
                previous.setdefault(row["command"], {"reused_from": f"{path.name} of {stored['date']}",
                                                     "measured_by": measured_by, **row})
    return previous


class Runner:
    """Trains and evaluates rows, once per distinct config within one invocation."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.base = base_config(config)
        self.data = load_ssl_data(self.base.dataset, None, self.base.test_fraction)
        self.cache: dict[str, dict] = {}
        self.reused_loads: set[str] = set()
        self.fresh_rows = 0
        self.previous = load_previous(config.out_dir) if config.reuse else {}

    def run(self, method: str, **overrides) -> dict:
        """Summary of the row ``method`` (an SSL method, ``random-init`` or ``supervised``)."""
        if method in ("random-init", "supervised"):
            ssl = dataclasses.replace(self.base, method="vicreg", **overrides)  # vicreg: the digit views
        else:
            ssl = dataclasses.replace(self.base, method=method, **overrides)
        key = json.dumps([method, ssl.to_dict()], sort_keys=True)
        command = self.command(method, ssl)
        if key not in self.cache and command in self.previous:
            self.cache[key] = self.previous[command]
            print(f"reused {method} {overrides or ''} from {self.cache[key]['reused_from']}", flush=True)
        if key not in self.cache:
            print(f"[{time.strftime('%H:%M:%S')}] {method} {overrides or ''} (load {load_average()})", flush=True)
            start = time.perf_counter()
            if method == "random-init":
                summary = evaluate_random_init(ssl, self.data)
            elif method == "supervised":
                summary = train_supervised(ssl, self.data)
            else:
                summary = train_ssl(ssl, data=self.data)
            summary = {**summary, "command": command, "wall_seconds": time.perf_counter() - start}
            print(f"    linear {summary['linear_acc']:.4f} knn {summary['knn_acc']:.4f} rank "
                  f"{summary['effective_rank']:.1f} collapsed {summary['collapsed']} / "
                  f"{summary.get('embedding_collapsed')} train {summary['train_seconds']:.0f} s", flush=True)
            self.cache[key] = summary
        return self.cache[key]

    @staticmethod
    def command(method: str, ssl: SSLTrainConfig) -> str:
        """How to reproduce a row: an ``hjepa ssl train`` line, or the baseline call on its config."""
        if method in ("random-init", "supervised"):
            function = "evaluate_random_init" if method == "random-init" else "train_supervised"
            return (f"hjepa.ssl.baselines.{function}(SSLTrainConfig(...)) with the config of "
                    f"`{cli_command(ssl, method)}`")
        return cli_command(ssl, f"bench-ssl-{method}")

    def row(self, label: str, method: str, extra: dict | None = None, **overrides) -> dict:
        s = self.run(method, **overrides)
        row = {"row": label, "method": method, **(extra or {})}
        for key in ("linear_acc", "knn_acc", "semi_1pct_acc", "semi_10pct_acc", "effective_rank",
                    "embedding_effective_rank", "collapsed", "embedding_collapsed", "median_std",
                    "embedding_median_std", "train_seconds", "images_per_second", "steps", "batch_size",
                    "bf16", "wall_seconds", "command"):
            row[key] = s.get(key)
        if "reused_from" in s:
            row["reused_from"], row["measured_by"] = s["reused_from"], s["measured_by"]
            self.reused_loads.add(s["measured_by"])
        else:
            self.fresh_rows += 1
        return row

    def notes(self, start_load: str, steps: str | None = None) -> str:
        """What every row shares (``steps``: how to describe the step counts, default the base's)."""
        b = self.base
        load = f"load average at start {start_load}, at end {load_average()}"
        if self.reused_loads:  # rows measured by an earlier invocation (--reuse): its load figures
            earlier = "rows reused from earlier runs of this script: " + "; ".join(sorted(self.reused_loads))
            load = f"{earlier}; the {self.fresh_rows} other rows: {load}" if self.fresh_rows else earlier
        self.reused_loads, self.fresh_rows = set(), 0
        bf16 = use_bf16(b.precision, torch.device("cpu"))
        return (f"Every row: {b.dataset}, {b.backbone} (width {b.width or 'default'}), {steps or b.steps} steps of "
                f"{b.batch_size} images, {b.optimizer} lr {b.lr} (warm-up {b.warmup_steps}, cosine), projector "
                f"{b.projector_dim}, precision {b.precision} (bf16 autocast: {bf16}), seed {b.seed}; "
                f"{b.threads} torch thread(s) on a 2-core machine shared with another engineer's experiments "
                f"({load}), so train_seconds and images/s "
                f"are indicative only. Frozen evaluation: L-BFGS linear probe and weighted 20-NN on backbone "
                f"features, effective rank = RankMe of backbone features and of projector embeddings; collapsed "
                f"= median per-dim std < 0.01 or RankMe < 10% of the dimension.")


def collapse_columns(row: dict, expected: bool) -> dict:
    """``collapse``: the projector embeddings are constant (median per-dim std < 0.01: VICReg's
    trivial solution) or lie along one or two directions (RankMe < 3: the trivial solution of the
    cosine losses of SimSiam / BYOL, where the norm is free); ``dimensional_collapse``: not that,
    but the library's verdict still says collapsed (RankMe < 10% of the dimension)."""
    complete = row["embedding_median_std"] < COMPLETE_COLLAPSE_STD or row["embedding_effective_rank"] < COLLAPSE_RANK
    dimensional = bool(row["embedding_collapsed"]) and not complete
    return {"expected_collapse": expected, "collapse": complete, "dimensional_collapse": dimensional,
            "matches_paper": complete == expected}


def table_ablation(config: Config, runner: Runner, name: str) -> Path:
    start_load = load_average()
    spec = TABLE5 if name == "table5" else TABLE3
    rows = []
    for label, method, expected in spec:
        row = runner.row(label, method, {"expected_collapse": expected})
        row.update(collapse_columns(row, expected))
        rows.append(row)
    rows.append(runner.row("reference: random-init encoder (floor)", "random-init"))
    columns = ["row", "method", "expected_collapse", "collapse", "matches_paper", "dimensional_collapse",
               *QUALITY_COLUMNS, "embedding_median_std", *TIMING_COLUMNS]
    if name == "table5":
        title = "SSL: VICReg loss-term ablation (VICReg paper Table 5), small scale"
        description = ("VICReg with loss terms switched off (weight 0; the others at 25 / 25 / 1): invariance "
                       "alone and invariance + covariance should collapse, adding the variance term should "
                       "prevent it (the paper's pattern on ImageNet).")
    else:
        title = "SSL: variance/covariance regularisation of SimSiam and BYOL (VICReg paper Table 3), small scale"
        description = ("SimSiam and BYOL without their predictor or stop-gradient should collapse; adding VICReg's "
                       f"variance + covariance regulariser (x vc_weight {runner.base.vc_weight}) should prevent it.")
    return write_result(config.out_dir, f"ssl_{name}", title, description, config, columns, rows,
                        notes=runner.notes(start_load) + " expected_collapse: the paper's outcome. collapse: "
                        "the projector embeddings are constant (median per-dim std < 0.01) or lie along one or two "
                        "directions (RankMe < 3; this threshold was set after seeing the results: collapsed rows "
                        "2.0-2.1, the lowest other 3.9); matches_paper: collapse == expected_collapse; "
                        "dimensional_collapse: not collapse, but RankMe < 10% of the embedding dimension. "
                        "collapsed / embedding_collapsed: the library's verdict (std < 0.01 or RankMe < 10% of the "
                        "dimension) on backbone features / projector embeddings. The random-init row is the "
                        "untrained backbone read out the same way: a collapsed encoder scores below it.")


def table_methods(config: Config, runner: Runner) -> Path:
    start_load = load_average()
    labels = {"random-init": "random-init encoder (floor)", "supervised": "supervised encoder (ceiling)"}
    rows = [runner.row(labels.get(m, m), m) for m in METHOD_ROWS]
    columns = ["row", "linear_acc", "knn_acc", "semi_1pct_acc", "semi_10pct_acc", "effective_rank",
               "embedding_effective_rank", "collapsed", *TIMING_COLUMNS]
    return write_result(
        config.out_dir, "ssl_methods", "SSL: methods side by side, same backbone and budget",
        "Each method's library defaults, same backbone, steps, batch, optimiser and seed, then the same frozen "
        "evaluation: linear probe, k-NN, and linear probes on 1% / 10% of the training labels (class-balanced). "
        "Floor: the untrained backbone. Ceiling: the backbone + a linear head trained with cross-entropy on the "
        "training labels, same augmentations (one digit view per image), steps, batch, optimiser and schedule "
        "(hjepa.ssl.baselines).",
        config, columns, rows, notes=runner.notes(start_load))


def table_target(config: Config, runner: Runner) -> Path:
    start_load = load_average()
    tuned = {"steps": 4} if config.quick else TARGET_OVERRIDES
    trials = [("default config, " + ("3" if config.quick else "200") + " steps", {"steps": 3 if config.quick else 200}),
              ("tuned: " + ", ".join(f"{k}={v}" for k, v in tuned.items()), tuned)]
    rows = []
    for label, overrides in trials:
        row = runner.row(label, "vicreg", **overrides)
        row["target_met"] = row["linear_acc"] >= TARGET_ACCURACY and row["train_seconds"] <= TARGET_SECONDS
        rows.append(row)
    columns = ["row", "linear_acc", "knn_acc", "semi_1pct_acc", "semi_10pct_acc", "effective_rank", "steps",
               "batch_size", "train_seconds", "images_per_second", "target_met"]
    return write_result(
        config.out_dir, "ssl_vicreg_target", "SSL: VICReg linear probe target (>= 97% within 10 CPU minutes)",
        f"VICReg on {runner.base.dataset} with the {runner.base.backbone}: held-out linear-probe accuracy (frozen "
        f"backbone, the library's evaluation unchanged) and training seconds (the step loop only; the frozen "
        f"evaluation adds ~5 s). Target: >= {TARGET_ACCURACY:.0%} with train_seconds <= {TARGET_SECONDS:.0f}.",
        config, columns, rows, notes=runner.notes(start_load, steps="the row's"))


def throughput_row(config: Config, backbone: str, precision: str, threads: int, previous: dict[str, dict]) -> dict:
    """Median images/s of the VICReg step (views + forward + backward + optimiser + online probe);
    the row of ``previous`` with the same command when there is one (``--reuse``)."""
    width = 4 if config.quick else None
    batch = 16 if config.quick else config.throughput_batch
    timed = 2 if config.quick else config.throughput_steps
    warmup = 1 if config.quick else config.throughput_warmup
    ssl = SSLTrainConfig(
        method="vicreg", dataset="digits" if config.quick else config.dataset, backbone=backbone, width=width,
        projector_dim=16 if config.quick else 512, steps=warmup + timed + 1, batch_size=batch,
        warmup_steps=1, precision=precision, threads=threads, log_every=1, checkpoint_every=0,
        progress=False, seed=config.seed,
    )
    command = cli_command(ssl, f"throughput-{backbone}-{precision}") + f" --stop-at {warmup + timed}"
    if command in previous:
        print(f"reused throughput {backbone} {precision} {threads} threads from {previous[command]['reused_from']}")
        row = {k: v for k, v in previous[command].items() if k != "speedup_vs_fp32"}
        if not row.get("load_average"):
            row["load_average"] = row["measured_by"].split(", ", 1)[-1]
        return row
    start_load = load_average()
    data = load_ssl_data(ssl.dataset, None, ssl.test_fraction)
    channels, size, _ = data[0].image_shape
    params = sum(p.numel() for p in build_backbone(backbone, channels, size, width).parameters())
    print(f"[{time.strftime('%H:%M:%S')}] throughput {backbone} {precision} (load {load_average()})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir.create(tmp, "throughput")
        train_ssl(ssl, run, stop_at=warmup + timed, data=data)
        records = [r for r in read_metrics(run.path(METRICS_FILE)) if "images_per_second" in r]
    rates = [r["images_per_second"] for r in records if r["step"] >= warmup]
    return {
        "backbone": backbone, "precision": precision, "batch_size": batch,
        "images_per_second": median(rates), "seconds_per_step": batch / median(rates),
        "min_images_per_second": min(rates), "max_images_per_second": max(rates), "timed_steps": len(rates),
        "backbone_params_M": params / 1e6, "threads": threads, "load_average": start_load, "command": command,
    }


def table_throughput(config: Config) -> Path:
    previous = load_previous(config.out_dir) if config.reuse else {}
    rows = [throughput_row(config, b, p, t, previous)
            for t in config.throughput_threads for b in THROUGHPUT_BACKBONES for p in ("fp32", "bf16")]
    for row in rows:
        fp32 = next(r for r in rows if (r["backbone"], r["threads"], r["precision"]) == (row["backbone"], row["threads"], "fp32"))
        row["speedup_vs_fp32"] = row["images_per_second"] / fp32["images_per_second"]
    columns = ["backbone", "precision", "threads", "batch_size", "images_per_second", "seconds_per_step",
               "speedup_vs_fp32", "min_images_per_second", "max_images_per_second", "backbone_params_M",
               "load_average"]
    reused = sorted({r["reused_from"] for r in rows if "reused_from" in r})
    return write_result(
        config.out_dir, "ssl_throughput", "SSL: VICReg training throughput per backbone and precision",
        "Images per second of the VICReg training step of `hjepa ssl train` (two digit views, backbone + "
        "projector 512-512-512 forward and backward, AdamW step, online probe), median over "
        f"{config.throughput_steps} timed steps after {config.throughput_warmup} warm-up steps (min / max over "
        f"the timed steps beside it), batch size {config.throughput_batch}; backbones at their default widths "
        "(convnet 32, resnet18 64, vit dim 128 depth 4), 28 px mnist-5k images. bf16 = autocast to bfloat16 "
        "(this CPU has AVX512-BF16).",
        config, columns, rows,
        notes=("Threads per row as given, on a 2-core machine shared with another engineer's experiments; "
               "load_average = the 1 / 5 / 15-minute load when the row started (2-4 of it from the other "
               "jobs). With 2 threads on 2 busy cores torch's OpenMP threads wait on each other, so the 2-thread "
               "rows measure contention as much as the model: compare rows with the same thread count, and read "
               "absolute numbers as lower bounds."
               + (f" Rows reused from {', '.join(reused)} (--reuse)." if reused else "")))


def main(config: Config) -> list[Path]:
    tables = TABLES if config.table == "all" else (config.table,)
    runner = Runner(config) if any(t != "throughput" for t in tables) else None
    paths = []
    for table in tables:
        if runner is not None:
            torch.set_num_threads(runner.base.threads)  # what the result file's machine line reports
        if table in ("table5", "table3"):
            paths.append(table_ablation(config, runner, table))
        elif table == "methods":
            paths.append(table_methods(config, runner))
        elif table == "vicreg-target":
            paths.append(table_target(config, runner))
        else:
            paths.append(table_throughput(config))
    return paths


if __name__ == "__main__":
    main(tyro.cli(Config))
