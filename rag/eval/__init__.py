"""Evaluation: suites of questions, the runner that asks them, metrics, reports and run comparison.

Public surface:
    load_suite / load_suites          rag.eval.suite
    run_suites / write_run / load_run rag.eval.runner
    summarize / METRICS               rag.eval.metrics
    compare_dirs                      rag.eval.compare
    main                              rag.eval.cli (`python -m rag eval ...`)
Imports are lazy so that `import rag.eval` costs nothing.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "load_suite": "rag.eval.suite",
    "load_suites": "rag.eval.suite",
    "Suite": "rag.eval.suite",
    "Case": "rag.eval.suite",
    "SuiteError": "rag.eval.suite",
    "run_suites": "rag.eval.runner",
    "write_run": "rag.eval.runner",
    "load_run": "rag.eval.runner",
    "summarize": "rag.eval.metrics",
    "METRICS": "rag.eval.metrics",
    "compare_dirs": "rag.eval.compare",
    "main": "rag.eval.cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rag.eval' has no attribute {name!r}")
