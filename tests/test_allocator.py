"""hjepa.runs.allocator: the glibc tuning applies where glibc is, and can be turned off."""

from __future__ import annotations

import platform

import pytest

from hjepa.runs.allocator import keep_freed_memory


def test_keep_freed_memory_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("HJEPA_MALLOC_TUNING", "0")
    assert keep_freed_memory() is False


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_applies_on_glibc(monkeypatch):
    monkeypatch.delenv("HJEPA_MALLOC_TUNING", raising=False)
    assert keep_freed_memory() is True
