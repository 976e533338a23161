"""bench.llama_build: a llama.cpp build that lacks an instruction set the CPU has is reported, not silent."""

from __future__ import annotations

import importlib.util

import pytest

from bench.llama_build import compiled_features, cpu_flags, missing_features

FULL = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | OPENMP = 1 |"
# what a wheel compiled with GGML_NATIVE=OFF (or on an older CPU) reports
GENERIC = "CPU : SSE3 = 1 | SSSE3 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"
CPUINFO = "processor\t: 0\nflags\t\t: fpu sse3 ssse3 avx avx2 fma f16c bmi2\nbugs\t\t:\n"


def test_a_generic_build_on_an_avx2_cpu_is_reported() -> None:
    flags = cpu_flags(CPUINFO)
    assert {"avx2", "fma"} <= flags
    assert missing_features(GENERIC, flags) == ["AVX", "AVX2", "FMA", "F16C"]
    assert missing_features(FULL, flags) == []
    assert compiled_features(FULL) >= {"AVX2", "FMA", "OPENMP"}


def test_an_unknown_cpu_reports_nothing_missing() -> None:
    assert missing_features(GENERIC, cpu_flags("")) == []


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed (make llm)")
def test_the_installed_build_uses_this_cpu() -> None:
    """`make llm` compiles with GGML_NATIVE=ON and rebuilds when a cached wheel lacks a feature of this CPU."""
    from bench.llama_build import build_report

    report = build_report()
    assert "CPU :" in report["system_info"]
    assert report["missing_in_build"] == [], report.get("warning")
