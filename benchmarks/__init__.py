"""Benchmarks for optuna-rlnas: problems, baseline samplers, a runner and a report.

Regenerate ``docs/benchmarks.md`` and its figures with ``python -m benchmarks`` (see
``docs/benchmarks.md`` for the exact command used). Not part of the installed package.
"""
