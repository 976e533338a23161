"""Benchmarks (issue 7): every figure is measured next to the raw cost of its parts, in the same run.

Run `python -m bench` (see bench/__main__.py); results go to bench/results/latest.{json,md,png}.
Nothing here is imported by the app, and nothing heavy is imported at package import.
"""
