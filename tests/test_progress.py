"""Progress on stderr: plain lines when stderr is not a terminal (logs), a tqdm bar when it is, nothing
when switched off; the frozen SSL evaluation reports its stages without changing its numbers."""

from __future__ import annotations

import io
import sys

import pytest
import torch
from tqdm import tqdm

from hjepa.eval.classify import feature_report
from hjepa.runs.progress import LineProgress, Stages, progress
from hjepa.ssl.evaluation import _staged_feature_report


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def lines_now(monkeypatch):
    """Progress on, stderr not a terminal (pytest's capture), a line at every update."""
    monkeypatch.setenv("HJEPA_PROGRESS", "1")
    monkeypatch.setenv("HJEPA_PROGRESS_SECONDS", "0")


def test_lines_with_counts_postfix_and_a_final_line(lines_now, capsys):
    bar = progress(range(4), desc="train world model")
    assert isinstance(bar, LineProgress) and not bar.disable and hasattr(bar, "set_postfix")
    seen = []
    for step in bar:
        seen.append(step)
        bar.set_postfix(loss=f"{0.5 / (step + 1):.3f}", probe_px=1.25)
    assert seen == [0, 1, 2, 3]
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 5  # one per step and the final one
    assert lines[0].startswith("train world model: 1/4 steps (25%), ") and " s elapsed, ~" in lines[0]
    assert lines[0].endswith("s left, loss=0.500, probe_px=1.25")
    assert lines[3].startswith("train world model: 4/4 steps (100%)")
    assert lines[4].startswith("train world model: 4/4 steps (100%), ") and ", done, loss=0.125" in lines[4]


def test_update_interface_and_resumed_counts(lines_now, capsys):
    bar = progress(100, desc="navigation")  # the episode loop: update(n), set_postfix(refresh=False), close()
    bar.update(30)
    bar.set_postfix(success="0.50", refresh=False)
    bar.update(70)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("navigation: 30/100 steps (30%), ") and lines[0].endswith("s left")
    assert lines[1].startswith("navigation: 100/100 steps (100%), ") and lines[1].endswith("~0 s left, success=0.50")
    assert lines[2].endswith("s, done, success=0.50") and len(lines) == 3
    resumed = progress(range(6, 10), desc="ssl vicreg", initial=6, total=10)  # the SSL trainer on --resume
    assert list(resumed) == [6, 7, 8, 9]
    err = capsys.readouterr().err
    assert "ssl vicreg: 7/10 steps (70%)" in err and "ssl vicreg: 10/10 steps (100%)" in err


def test_final_line_only_when_quicker_than_the_interval(monkeypatch, capsys):
    monkeypatch.setenv("HJEPA_PROGRESS", "1")
    monkeypatch.setenv("HJEPA_PROGRESS_SECONDS", "3600")
    bar = progress(100, desc="navigation")
    bar.update(30)
    bar.set_postfix(success="0.50", refresh=False)
    bar.close()
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("navigation: 30/100 steps (30%), ")
    assert lines[0].endswith("s, stopped, success=0.50")
    unsized = LineProgress(iter("abc"), desc="items")  # no length: counts only
    assert list(unsized) == ["a", "b", "c"]
    assert capsys.readouterr().err.startswith("items: 3 steps, ")


def test_nothing_when_switched_off(lines_now, capsys, monkeypatch):
    bar = progress(range(3), desc="quiet", enabled=False)
    assert list(bar) == [0, 1, 2] and bar.disable
    bar.set_postfix(loss="1")
    bar.close()
    monkeypatch.setenv("HJEPA_PROGRESS", "0")
    quiet = Stages(2, "stages")
    quiet.start("one")
    quiet.start("two")
    quiet.close()
    assert list(progress(2, desc="off")) == [0, 1]
    assert capsys.readouterr().err == ""


def test_tqdm_bar_on_a_terminal(monkeypatch):
    monkeypatch.setenv("HJEPA_PROGRESS", "1")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = progress(range(3), desc="train world model")
    assert isinstance(bar, tqdm)
    for _ in bar:
        bar.set_postfix(loss="0.100")
    assert "train world model" in terminal.getvalue() and "3/3" in terminal.getvalue()
    assert "loss=0.100" in terminal.getvalue()


def test_stages_name_the_stage_under_way(lines_now, capsys):
    stages = Stages(3, "ssl eval")
    for name in ("train features", "linear probe", "k-NN"):
        stages.start(name)
    stages.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("ssl eval: 1/3 stages (33%)") and lines[0].endswith("stage=linear probe")
    assert lines[1].startswith("ssl eval: 2/3 stages") and lines[1].endswith("stage=k-NN")
    assert lines[-1].startswith("ssl eval: 3/3 stages (100%)") and lines[-1].endswith("s, done")


def test_staged_report_equals_feature_report(lines_now, capsys):
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat(40)
    centres = torch.randn(3, 6, generator=generator) * 3
    train_x = centres[labels] + torch.randn(120, 6, generator=generator)
    test_x = centres[labels[:60]] + torch.randn(60, 6, generator=generator)
    expected = feature_report(train_x, labels, test_x, labels[:60], 3, torch.Generator().manual_seed(5))
    stages = Stages(5, "probes")
    staged = _staged_feature_report(train_x, labels, test_x, labels[:60], 3, torch.Generator().manual_seed(5), stages)
    stages.close()
    assert staged == expected and list(staged) == list(expected)
    err = capsys.readouterr().err
    assert "stage=linear probe" in err and "stage=semi-supervised 10%" in err and "5/5 stages" in err
