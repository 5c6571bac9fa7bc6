"""Benchmarks, run as scripts (PYTHONPATH=. .venv/bin/python bench/NAME.py); results in docs/benchmarks.md."""
