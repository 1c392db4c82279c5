"""The throughput benchmark (issue 4) end to end in a tiny setting: its output, not its speed."""

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
def test_throughput_prints_the_table_and_a_ratio() -> None:
    command = [sys.executable, "-m", "benchmarks.throughput", "--device", "cpu", "--dataset",
               "digits", "--epochs", "1", "--repeats", "1", "--subset", "64", "--val-size", "64",
               "--threads", "1", "--no-warmup"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "torch threads 1" in out
    assert "| path | images/s (median) |" in out
    rows = dict(re.findall(r"^\| (lightning|plain) \| [\d.]+ \|.*\| ([\d.]+) \|$", out, re.M))
    assert set(rows) == {"lightning", "plain"}
    # Same child, weights, data and epoch: both paths reach the same validation accuracy.
    assert float(rows["lightning"]) == pytest.approx(float(rows["plain"]), abs=0.02)
    ratio = re.search(r"^ratio lightning/plain: ([\d.]+) ", out, re.M)
    assert ratio is not None and float(ratio.group(1)) > 0
