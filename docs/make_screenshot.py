"""Refresh ``docs/img/dashboard.png`` and ``docs/img/dashboard-trial.png`` from a real search.

Runs the browser test (``tests/test_dashboard_browser.py``) with a longer search, so that the
controller has made a few updates, and keeps its screenshots::

    python docs/make_screenshot.py            # 40 trials of 1 epoch on digits, a few minutes
    python docs/make_screenshot.py --trials 16

Needs Debian's ``chromium`` and the ``playwright`` package (no browser download).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials of the search [40]")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"), help="[docs/img]")
    args = parser.parse_args()
    env = dict(
        os.environ,
        RLNAS_SCREENSHOT_DIR=args.out,
        RLNAS_SCREENSHOT_TRIALS=str(args.trials),
        RLNAS_REQUIRE_SERVICES="1",  # a skipped test would leave the old screenshot in place
    )
    test = ROOT / "tests" / "test_dashboard_browser.py"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
