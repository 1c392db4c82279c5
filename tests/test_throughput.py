"""The throughput benchmark end to end in a tiny setting: its output, not its speed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_throughput_prints_the_table_and_the_ratios() -> None:
    command = [sys.executable, "-m", "benchmarks.throughput", "--device", "cpu", "--dataset",
               "digits", "--epochs", "1", "--repeats", "1", "--subset", "64", "--val-size", "64",
               "--threads", "1", "--no-warmup"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "torch threads 1" in out
    rows = re.findall(r"^\| (search|final) \| (lightning|plain) \| 32-true \| [\d.]+ \|.*"
                      r"\| ([\d.]+) \|$", out, re.M)
    accuracy = {(recipe, path): float(acc) for recipe, path, acc in rows}
    assert set(accuracy) == {(r, p) for r in ("search", "final") for p in ("lightning", "plain")}
    # Same child, weights, batches (and augmentation) and epoch: the same validation accuracy.
    for recipe in ("search", "final"):
        assert accuracy[recipe, "lightning"] == pytest.approx(accuracy[recipe, "plain"], abs=0.02)
    for recipe in ("search", "final"):
        ratio = re.search(rf"^ratio {recipe} lightning/plain: ([\d.]+) ", out, re.M)
        assert ratio is not None and float(ratio.group(1)) > 0
