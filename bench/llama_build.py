"""Is the installed llama.cpp built for this machine's CPU?

llama-cpp-python compiles llama.cpp once and pip caches the wheel by the sdist's URL only: neither the
CPU nor CMAKE_ARGS is part of the cache key. A wheel built elsewhere (a copied ~/.cache/pip, a CI cache), or
built with GGML_NATIVE off (llama.cpp turns it off by itself when SOURCE_DATE_EPOCH is set), installs
silently and runs the matrix code without AVX2/FMA/AVX512: several times slower prompt evaluation.

`llama_print_system_info()` reports the instruction sets the CPU backend was compiled with; this module
compares them with /proc/cpuinfo. `python -m bench.llama_build` prints both and exits 1 when the build
lacks a feature the CPU has (`make llm` then rebuilds without the wheel cache).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# system-info name -> /proc/cpuinfo flag; the ones that matter for ggml's CPU matrix code
FEATURES = {"AVX": "avx", "AVX2": "avx2", "FMA": "fma", "F16C": "f16c", "AVX512": "avx512f",
            "AVX512_VNNI": "avx512_vnni", "AVX_VNNI": "avx_vnni"}


def system_info() -> str:
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()


def compiled_features(info: str) -> set[str]:
    """The features the system info marks `= 1` (e.g. "AVX2 = 1 | FMA = 1")."""
    return {m.group(1) for m in re.finditer(r"([A-Z0-9_]+) = 1", info)}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    line = next((ln for ln in cpuinfo.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def missing_features(info: str, flags: set[str]) -> list[str]:
    """Features this CPU has that the llama.cpp build does not use (empty when unknown: no cpuinfo)."""
    have = compiled_features(info)
    return [name for name, flag in FEATURES.items() if flag in flags and name not in have]


def build_report() -> dict:
    """What the bench prints beside its timings."""
    import llama_cpp

    info = system_info()
    flags = cpu_flags()
    missing = missing_features(info, flags)
    report = {"llama_cpp_python": llama_cpp.__version__, "system_info": info,
              "cpu_features": sorted(f for f in FEATURES.values() if f in flags), "missing_in_build": missing}
    if missing:
        report["warning"] = (f"llama.cpp was built without {', '.join(missing)}, which this CPU has: prompt "
                             "evaluation runs several times slower. Rebuild: `make llm-rebuild`")
    return report


def main() -> int:
    report = build_report()
    print(f"llama-cpp-python {report['llama_cpp_python']}\n{report['system_info']}")
    print(f"CPU features: {' '.join(report['cpu_features']) or 'unknown'}")
    if report["missing_in_build"]:
        print(f"WARNING: {report['warning']}", file=sys.stderr)
        return 1
    print("the build uses every listed feature of this CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
