"""Shared test settings: one torch thread per test and no progress bars."""

from __future__ import annotations

import pytest
import torch

from hjepa.runs.allocator import keep_freed_memory


def pytest_configure(config):
    keep_freed_memory()  # as the hjepa CLI does (hjepa.runs.allocator)


@pytest.fixture(autouse=True)
def _one_thread_no_progress(monkeypatch):
    # Tiny tensors on a shared 2-core machine: thread hand-offs cost more than the math, and two
    # processes with 2 threads each on 2 cores slow small ops down by an order of magnitude.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("HJEPA_PROGRESS", "0")  # read by hjepa.runs.progress.progress_enabled
    yield
    torch.set_num_threads(previous)
