"""Regenerate ``benchmarks/RESULTS.md`` and ``benchmarks/results/history/README.md``.

RESULTS.md shows each benchmark's current figures once: one section per benchmark family (``GROUPS``
below: which result file belongs to which family, and which files are current), with the command,
date and machine of every file in it and one table (several files of a family, e.g. seeds, become
one table with a column naming the file). The hand-written summaries (``results/targets.md`` and
``results/*_targets.md``) open their group. Superseded files (earlier measurements of a benchmark,
runs a later one replaced) live in ``results/history/`` and are rendered, with the hand-written
``results/history/*.md`` notes, into ``results/history/README.md``, which RESULTS.md links to.
A result file no family names still gets its own section at the end. Run it after any benchmark:

    python benchmarks/update_results.py
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import tyro

from common import FORMAT, RESULTS_DIR, machine_line
from hjepa.runs.report import markdown_table
from hjepa.runs.run_dir import atomic_write_text

COMMAND = "python benchmarks/update_results.py"


@dataclass(frozen=True)
class Family:
    """One benchmark: a measurement whose current figure RESULTS.md shows once.

    ``current`` and ``history`` hold ``(file stem, text)``: for a current file, the label that
    names it in the section's first column when there are several (``label``: that column's
    heading); for a superseded one, why it is history.
    """

    key: str  # anchor in both files
    title: str
    current: tuple[tuple[str, str], ...]
    history: tuple[tuple[str, str], ...] = ()
    label: str = "run"


@dataclass(frozen=True)
class Group:
    """A part of the project (one issue): its hand-written summaries and its benchmarks."""

    key: str
    title: str
    summaries: tuple[str, ...]  # hand-written results/<name>.md, shown before the families
    families: tuple[Family, ...]
    history_notes: tuple[str, ...] = ()  # hand-written results/history/<name>.md


BEFORE_UNSTICK = "measured before unstick existed (as `--plan.no-unstick`)"

GROUPS: tuple[Group, ...] = (
    Group("two-rooms", "Two Rooms (issue 2)", ("targets.md",), (
        Family("two-rooms-fixed", "Two Rooms quality: fixed suite", (("two_rooms_suite_fixed", ""),)),
        Family("two-rooms-long", "Two Rooms quality: long suite", (("two_rooms_suite_long", ""),)),
        Family("two-rooms-generalisation", "Two Rooms quality: generalisation suite",
               (("two_rooms_suite_generalisation", ""),)),
        Family("two-rooms-ablation", "Two Rooms quality: ablation suite", (("two_rooms_suite_ablation", ""),)),
        Family("demo-memory", "Demo end to end: wall time, peak memory, success, on each CPU kind", (
            ("demo_memory", "this CPU's own kernels (AVX-512, bf16 where --precision auto picks it)"),
            ("demo_memory_avx2", "as an AVX2-only CPU (ATEN_CPU_CAPABILITY=avx2, fp32)"),
        ), history=(
            ("demo_memory_2026-12-01", "the 2026-12-01 measurement (before the allocator tuning and channels-last)"),
            ("demo_memory_1000+4x300_2026-12-07", "a trial of fewer steps (1000 + 4 practice rounds) on AVX-512: 296 s but 69%, not adopted"),
            ("demo_memory_avx2_1000+4x300_2026-12-07", "the same trial as an AVX2-only CPU: 388 s but 74%, not adopted"),
        ), label="kernels"),
        Family("env-throughput", "Two Rooms environment throughput", (("env_throughput", ""),)),
        Family("planning-speed", "Planning time per environment step", (("planning_speed", ""),)),
    )),
    Group("agent", "The whole agent (issue 4)", ("agent_targets.md",), (
        Family("agent-suite", "The whole agent: critic, Mode-1 distillation, warm start, forbidden zone", (
            ("agent_suite", "100 episodes"),
            ("agent_suite_300", "300 episodes"),
            ("agent_suite_300_no_unstick", "300 episodes, no unstick"),
        ), history=(
            ("agent_suite_critic_members3", ("three critics on the same data, discount 0.95, no unstick, critic-only "
             "training; replaced by the bootstrap ensemble (`agent_suite_critic_bootstrap3`)")),
            ("agent_suite_critic_bootstrap3", ("three bootstrap critics, discount 0.95, no unstick, critic-only "
             "training; now the default, re-measured at discount 0.8 with unstick in `agent_suite`")),
        )),
        Family("critic-discount", "The critic's discount: H=4 + critic success against the discount",
               (("critic_discount", ""),)),
    ), history_notes=("agent_targets.md",)),
    Group("maze", "Hierarchical JEPA in the maze (issue 5)", ("hierarchy_targets.md",), (
        Family("maze-landmarks", "Maze: hierarchical (landmark-graph level 2) vs flat planning", (
            ("hierarchy_suite_deterministic_landmarks_unstick", "0"),
            ("hierarchy_suite_deterministic_landmarks_unstick_seed1", "1"),
            ("hierarchy_suite_deterministic_landmarks_unstick_seed2", "2"),
        ), history=(
            ("hierarchy_suite_deterministic_landmarks", f"seed 0, {BEFORE_UNSTICK}"),
            ("hierarchy_suite_deterministic_landmarks_seed1", (f"seed 1, {BEFORE_UNSTICK}; also trains the "
             "seed-1 checkpoint")),
            ("hierarchy_suite_deterministic_landmarks_seed2", (f"seed 2, {BEFORE_UNSTICK}; also trains the "
             "seed-2 checkpoint")),
        ), label="seed"),
        Family("maze-spread", "Maze: hierarchical (learned level-2 predictor, spread search) vs flat planning", (
            ("hierarchy_suite_deterministic_unstick", ""),
        ), history=(
            ("hierarchy_suite_deterministic", (f"seed 0, 8 tasks per group, {BEFORE_UNSTICK}; the run that trains "
             "the seed-0 checkpoint (its notes hold the world model's diagnostics)")),
            ("hierarchy_suite_deterministic_seed1", f"seed 1, {BEFORE_UNSTICK}"),
            ("hierarchy_suite_deterministic_spatial", ("a variant tried once and not adopted: a convolutional "
             "(spatial) level 1, worse on every measure")),
        )),
        Family("maze-ablations", "Maze ablations: an exact level 2, and level 1 unrolled as level 2", (
            ("hierarchy_suite_deterministic_simulator", "exact level 2, horizon 10"),
            ("hierarchy_suite_deterministic_simulator_h30", "exact level 2, horizon 30"),
            ("hierarchy_suite_deterministic_unrolled_level1", "level 1 unrolled"),
        ), label="level 2"),
        Family("maze-test", "Hierarchy on test tasks (maze, PushT): learned level 2, landmarks, flat (issue 19)",
               (("hierarchy_test", ""),)),
        Family("maze-stochastic", "Stochastic maze: planning with z at its mean vs expected / worst case over z", (
            ("hierarchy_suite_stochastic_36_unstick", ""),
        ), history=(
            ("hierarchy_suite_stochastic", (f"12 shortcut tasks, {BEFORE_UNSTICK}; the run that trains the "
             "checkpoint")),
            ("hierarchy_suite_stochastic_36", f"36 shortcut tasks, {BEFORE_UNSTICK}"),
        )),
    ), history_notes=("hierarchy_targets.md",)),
    Group("external", "External environments from pixels (issue 6)", ("external_envs_targets.md",), (
        Family("external-main", "External environments from pixels: DINO-WM protocol", (
            ("external_envs_main", "defaults (PointMaze on MuJoCo 4.0.0)"),
            ("external_envs_pointmaze_mujoco317", "defaults, MuJoCo 3.17.0 (pinned now)"),
            ("external_envs_reacher", "defaults (added later)"),
        ), history=(
            ("external_envs_pusht_3000x16000", ("a variant tried and not adopted: PushT with 3000 episodes and "
             "16000 steps, no gain")),
            ("external_envs_reacher_pool1", "a variant tried and not adopted: reacher at full resolution, no gain"),
            ("external_envs_reacher_1000x6000", ("a variant tried and not adopted: reacher with 1000 episodes and "
             "6000 steps, no gain")),
            ("external_envs_reacher_before_reset_fix", ("reacher with the defaults, measured before the adapter's reset "
             "fix (a never-reset reacher started the first controller's episodes from a wrong pose): 24%")),
        ), label="setting"),
        Family("external-random-state", "PointMaze with DINO-WM's random-state goals",
               (("external_envs_random-state", ""),)),
        Family("external-curve", "Learning curve on PushT: success against training CPU time",
               (("external_envs_curve", ""),)),
    ), history_notes=("external_envs_targets.md",)),
    Group("field-protocol", "The field's own protocol: PushT, reacher, Two Rooms (issue 18)", ("peer_protocol_targets.md",), (
        Family("peer-protocol", "PushT, reacher and Two Rooms on stable-worldmodel's protocol", (("peer_protocol", ""),)),
    )),
    Group("speed", "Speed on both CPU kinds, beside the peers (issue 21)", ("speed_targets.md",), (
        Family("profile-demo", "Where the demo's time goes: training step, practice planning, evaluation planning", (
            ("profile_demo", "this CPU's own kernels"),
            ("profile_demo_avx2", "as an AVX2-only CPU"),
            ("profile_demo_compile", "this CPU's own kernels, torch.compile"),
        ), label="kernels"),
        Family("peers", "hjepa beside the reference computation, in one process", (("peers", ""),)),
    )),
    Group("jepa-family", "JEPA family (issue 7)", ("jepa_family_targets.md", "sie_mcjepa_targets.md"), (
        Family("ijepa", "JEPA family: I-JEPA vs pixel prediction vs VICReg (mnist-5k, ViT)",
               (("jepa_family_ijepa", "0"), ("jepa_family_ijepa_seed1", "1")), label="seed"),
        Family("ijepa-photo", "JEPA family: I-JEPA vs pixel prediction vs VICReg (photo-patches, ViT)",
               (("jepa_family_ijepa_photo", ""),)),
        Family("vicregl", "JEPA family: VICRegL vs VICReg, local features (texture-scenes, ConvNet)",
               (("jepa_family_vicregl_convnet", "0"), ("jepa_family_vicregl_convnet_seed1", "1")), label="seed"),
        Family("sie", "JEPA family: SIE vs VICReg, invariant and equivariant parts (rotated-digits, ConvNet)",
               (("sie_mcjepa_sie", "0"), ("sie_mcjepa_sie_seed1", "1")), label="seed"),
        Family("mc-jepa", "JEPA family: MC-JEPA vs VICReg, motion and content (moving digits / mnist-5k, ConvNet)",
               (("sie_mcjepa_mcjepa", "0"), ("sie_mcjepa_mcjepa_seed1", "1")), label="seed"),
    ), history_notes=("jepa_family_targets.md", "sie_mcjepa_targets.md")),
    Group("ssl", "Image SSL", (), (
        Family("ssl-vicreg-target", "SSL: VICReg linear probe target (>= 97% within 10 CPU minutes)",
               (("ssl_vicreg_target", ""),)),
        Family("ssl-methods", "SSL: methods side by side, same backbone and budget", (("ssl_methods", ""),)),
        Family("ssl-table5", "SSL: VICReg loss-term ablation (VICReg paper Table 5), small scale",
               (("ssl_table5", ""),)),
        Family("ssl-table3", "SSL: variance/covariance regularisation of SimSiam and BYOL (VICReg paper Table 3), "
               "small scale", (("ssl_table3", ""),)),
        Family("ssl-throughput", "SSL: VICReg training throughput per backbone and precision",
               (("ssl_throughput", ""),)),
    )),
)


@dataclass(frozen=True)
class Config:
    """Rebuild RESULTS.md and results/history/README.md from the JSON results."""

    results_dir: Path = RESULTS_DIR
    """Directory of the current <benchmark>.json files and hand-written *.md; ``history/`` under it."""
    out: Path = RESULTS_DIR.parent / "RESULTS.md"
    """Markdown file to write (atomically)."""


def load(path: Path) -> dict:
    result = json.loads(path.read_text())
    if result.get("format") != FORMAT:
        raise ValueError(f"{path} is not a benchmark result (format {result.get('format')!r})")
    return result


def when(result: dict) -> str:
    """``2026-12-01 20:21 UTC`` from the result's ISO date."""
    date = result.get("date", "?")
    return f"{date[:10]} {date[11:16]} UTC" if len(date) >= 16 and date[10] == "T" else date


def render(heading: str, results: list[tuple[str, dict]], label: str = "run", intro: str = "",
           earlier: tuple[str, ...] = ()) -> str:
    """One section: the heading, ``intro``, the description, a list of each result's command and date,
    the machine, the notes and ``earlier`` (links), then one table. With several ``(label, result)``
    pairs the table's first column, ``label``, says which result a row comes from."""
    several = len(results) > 1
    descriptions = list(dict.fromkeys(r["description"] for _, r in results))
    lines = [heading, "", *([intro, ""] if intro else []),
             descriptions[0] if len(descriptions) == 1 else " ".join(f"({n}) {r['description']}" for n, r in results)]
    machines = list(dict.fromkeys(machine_line(r["machine"]) for _, r in results))
    for name, result in results:
        which = f" ({label}: {name})" if several else ""
        machine = f"; {machine_line(result['machine'])}" if len(machines) > 1 else ""
        lines.append(f"- Command{which}: `{result['command']}`, {when(result)}{machine}")
    if len(machines) == 1:
        lines.append(f"- Machine: {machines[0]}")
    notes = [(name, r["notes"]) for name, r in results if r.get("notes")]
    if len({n for _, n in notes}) == 1 and len(notes) == len(results):
        lines.append(f"- Notes: {notes[0][1]}")
    else:
        lines += [f"- Notes ({label}: {name}): {note}" if several else f"- Notes: {note}" for name, note in notes]
    if earlier:
        lines.append("- Earlier runs: " + ", ".join(earlier))
    if several:
        columns = [label] + list(dict.fromkeys(c for _, r in results for c in r["columns"]))
        if columns.count(label) > 1:
            raise ValueError(f"{heading}: the label column {label!r} is also a column of its results")
        rows = [{label: name, **row} for name, r in results for row in r["rows"]]
    else:
        columns, rows = results[0][1]["columns"], results[0][1]["rows"]
    return "\n".join([*lines, "", markdown_table(rows, columns, float_fmt=".4g")])


def section(result: dict, heading: str = "##", intro: str = "") -> str:
    """One result file on its own: title, ``intro``, description, command, date, machine, notes, table."""
    return render(f"{heading} {result['title']}", [("", result)], intro=intro)


def family_section(family: Family, results: list[tuple[str, dict]], earlier: list[str]) -> str:
    """The family's current files as one section; ``results`` holds (label, result) pairs."""
    return render(f'### <a id="{family.key}"></a>{family.title}', results, family.label, earlier=tuple(earlier))


def locate(results_dir: Path, stem: str) -> Path | None:
    """``<stem>.json`` in results_dir or its history folder (where a superseded file belongs)."""
    for folder in (results_dir, results_dir / "history"):
        if (folder / f"{stem}.json").exists():
            return folder / f"{stem}.json"
    return None


def hand_written(path: Path) -> str:
    return path.read_text().rstrip("\n") + "\n" if path.exists() else ""


def main(config: Config) -> Path:
    results_dir = Path(config.results_dir)
    history_dir = results_dir / "history"
    history_readme = history_dir / "README.md"
    out = Path(config.out)
    history_link = Path(os.path.relpath(history_readme, out.parent)).as_posix()  # RESULTS.md -> history
    back_link = Path(os.path.relpath(out, history_dir)).as_posix()  # history -> RESULTS.md
    named: set[Path] = set()
    body: list[str] = []
    history: list[str] = []
    contents: list[str] = []
    sections = 0
    for group in GROUPS:
        group_body: list[str] = []
        group_history: list[str] = []
        for name in group.summaries:
            named.add(results_dir / name)
            if text := hand_written(results_dir / name):
                group_body.append(text)
        for name in group.history_notes:
            named.add(history_dir / name)
            if text := hand_written(history_dir / name):
                group_history.append(text)
        for family in group.families:
            found = [(label, locate(results_dir, stem)) for stem, label in family.current]
            current = [(label, path) for label, path in found if path is not None]
            superseded = [(stem, why, locate(results_dir, stem)) for stem, why in family.history]
            superseded = [(stem, why, path) for stem, why, path in superseded if path is not None]
            named.update(path for _, path in current)
            named.update(path for _, _, path in superseded)
            earlier = [f"[`{stem}`]({history_link}#{stem})" for stem, _, _ in superseded]
            if current:
                group_body.append(family_section(family, [(label, load(p)) for label, p in current], earlier))
                sections += 1
            if superseded:
                group_history.append(f'### <a id="{family.key}"></a>{family.title}\n\nCurrent figures: '
                                     f"[RESULTS.md]({back_link}#{family.key}).\n")
                for stem, why, path in superseded:
                    result = load(path)
                    group_history.append(render(f'#### <a id="{stem}"></a>`{stem}.json`', [("", result)],
                                                intro=f"{result['title']}. Here because: {why}."))
        if group_body:
            link = (f"Earlier runs and how the current figures were reached: [history]({history_link}#{group.key})."
                    "\n\n" if group_history else "")
            body.append(f'## <a id="{group.key}"></a>{group.title}\n\n{link}' + "\n".join(group_body))
            contents.append(f"[{group.title}](#{group.key})")
        if group_history:
            history.append(f'## <a id="{group.key}"></a>{group.title}\n\n' + "\n".join(group_history))
    # Files no family names: one section each, so that a new benchmark shows up before it is filed.
    others = [section(load(p), "###") for p in sorted(results_dir.glob("*.json")) if p not in named]
    named.add(out)
    others += [hand_written(p) for p in sorted(results_dir.glob("*.md")) if p not in named]
    if others:
        body.append('## <a id="other"></a>Other results\n\n' + "\n".join(others))
        contents.append("[Other results](#other)")
        sections += len([p for p in results_dir.glob("*.json") if p not in named])
    old = [section(load(p), "###") for p in sorted(history_dir.glob("*.json")) if p not in named]
    old += [hand_written(p) for p in sorted(history_dir.glob("*.md")) if p not in named and p != history_readme]
    if old:
        history.append("## Other earlier results\n\n" + "\n".join(old))

    superseded = f"; superseded runs are in [{history_link}]({history_link})" if history else ""
    header = (f"# Benchmark results\n\nGenerated by `{COMMAND}` from `benchmarks/results/*.json` and the "
              "hand-written `benchmarks/results/*.md`; do not edit by hand. Each benchmark's current figures "
              f"appear once{superseded}. "
              "Paths are relative to the repository; `runs/...` are run directories, not committed. "
              "See docs/benchmarks.md.\n\n" + (" · ".join(contents) + "\n" if contents else ""))
    text = header + "\n" + ("\n".join(body) if body else "No results yet.\n")
    atomic_write_text(out, text.rstrip("\n") + "\n")
    print(f"{sections} benchmark sections, {text.count(chr(10))} lines written to {out}")
    if history:
        text = (f"# Earlier benchmark results\n\nGenerated by `{COMMAND}` from `benchmarks/results/history/*.json` "
                "and the hand-written `benchmarks/results/history/*.md`; do not edit by hand. Superseded runs "
                "(earlier measurements of a benchmark, variants a later run replaced) with why each is here; "
                f"the current figures are in [RESULTS.md]({back_link}).\n\n" + "\n".join(history))
        atomic_write_text(history_readme, text.rstrip("\n") + "\n")
        print(f"history written to {history_readme}")
    return out


if __name__ == "__main__":
    main(tyro.cli(Config))
