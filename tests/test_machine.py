"""hjepa.runs.machine: the CPU kind from /proc/cpuinfo flags and ATEN_CPU_CAPABILITY."""

from __future__ import annotations

import pytest

from hjepa.runs import machine

KINDS = {"AMX", "AVX-512", "AVX2", "other", "unknown"}


def cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 {flags}\n\n"
                    f"processor\t: 1\nflags\t\t: fpu sse2 {flags}\n")
    return path


def test_this_machine_reports_a_known_kind(monkeypatch):
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    assert machine.cpu_kind() in KINDS
    info = machine.machine_info()
    assert {"cpu", "cpu_kind", "cores", "platform", "python", "torch", "torch_threads"} <= set(info)
    assert info["cpu_kind"] in KINDS and info["torch_threads"] >= 1


@pytest.mark.parametrize("flags, kind", [
    ("avx avx2 avx512f avx512bw amx_bf16 amx_tile amx_int8", "AMX"),
    ("avx avx2 amx_tile", "AMX"),
    ("avx avx2 avx512f avx512bw", "AVX-512"),
    ("avx avx2 fma", "AVX2"),
    ("avx", "other"),
])
def test_kind_from_flags(tmp_path, monkeypatch, flags, kind):
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.setattr(machine, "CPUINFO", cpuinfo(tmp_path, flags))
    assert machine.cpu_kind() == kind
    assert machine.cpu_kind(cpuinfo(tmp_path, flags)) == kind  # or passed as a parameter


def test_unreadable_or_flagless_cpuinfo(tmp_path, monkeypatch):
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.setattr(machine, "CPUINFO", tmp_path / "missing")
    assert machine.cpu_kind() == "unknown"
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd sve\n")
    assert machine.cpu_kind(arm) == "other"


@pytest.mark.parametrize("flags, capability, kind", [
    ("avx2 avx512f", "avx2", "AVX2 (ATEN_CPU_CAPABILITY=avx2 on an AVX-512 CPU)"),
    ("avx2 avx512f", "default", "other (ATEN_CPU_CAPABILITY=default on an AVX-512 CPU)"),
    ("avx2", "default", "other (ATEN_CPU_CAPABILITY=default on an AVX2 CPU)"),
    ("avx2 avx512f amx_tile", "avx2", "AVX2 (ATEN_CPU_CAPABILITY=avx2 on an AMX CPU)"),
    ("avx2 avx512f amx_tile", "avx512", "AMX"),  # ATen has no AMX level; oneDNN's AMX kernels stay
    ("avx2 avx512f", "avx512", "AVX-512"),  # not lower: nothing to say
    ("avx2", "avx512", "AVX2"),  # above the hardware: torch falls back to what the CPU has
    ("avx2 avx512f", "zvector", "AVX-512"),  # not an x86 level: ignored
])
def test_aten_cpu_capability_lowers_the_kind(tmp_path, monkeypatch, flags, capability, kind):
    monkeypatch.setattr(machine, "CPUINFO", cpuinfo(tmp_path, flags))
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", capability)
    assert machine.cpu_kind() == kind


def test_cpu_model_falls_back_to_cpuinfo(tmp_path, monkeypatch):
    monkeypatch.setattr(machine.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(OSError("no lscpu")))
    assert machine.cpu_model(cpuinfo(tmp_path, "avx2")) == "Test CPU 9000"
