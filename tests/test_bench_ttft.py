"""bench.ttft's headline: every run is kept with its load, and the quoted figure is the median over runs."""

from __future__ import annotations

from bench.ttft import headline


def _run(load: float, p50: float, cold: float, ratio: float | None) -> dict:
    return {"load_average": (load, 0, 0), "load_average_after": (load + 1, 0, 0),
            "stream": {"cold_ms": cold, "warm": {"p50_ms": p50, "p95_ms": 2 * p50}}, "follow_up_ms": p50,
            "model_first_token": {"warm": {"p50_ms": p50 / 2}}, "raw_llama_cpp_warm": {"p50_ms": p50 / 3},
            "ours_over_raw_p50": ratio, "ours_llama": {"prompt_tps_median": 200.0}}


def test_headline_keeps_every_run_and_quotes_the_median() -> None:
    h = headline([_run(1.0, 900.0, 1300.0, 1.1), _run(9.0, 8000.0, 14000.0, None), _run(2.0, 1000.0, 1400.0, 1.2)])
    assert [r["load"] for r in h["runs"]] == [[1.0, 2.0], [9.0, 10.0], [2.0, 3.0]], "every run, with its load"
    assert h["runs"][1]["shown_p50"] == 8000.0, "the slow run is reported, not dropped"
    assert h["median"]["shown_p50"] == 1000.0 and h["median"]["shown_cold"] == 1400.0
    assert h["median"]["ours_over_raw"] == 1.15, "a run without a raw figure does not count as zero"
    assert h["median"]["prompt_tps_median"] == 200.0
