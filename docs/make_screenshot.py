"""Refresh ``docs/img/dashboard.png`` and ``docs/img/dashboard-trial.png`` from a real search.

Runs the browser test (``tests/test_dashboard_browser.py``) with a longer search of the default
space (digits, 6 layers with skip connections), so that the controller has made a few updates,
and keeps its screenshots::

    python docs/make_screenshot.py            # 30 trials of 1 epoch, about 4 minutes on 2 cores
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
    parser.add_argument("--trials", type=int, default=30, help="trials of the search [30]")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"), help="[docs/img]")
    args = parser.parse_args()
    env = dict(
        os.environ,
        RLNAS_SCREENSHOT_DIR=args.out,
        RLNAS_SCREENSHOT_TRIALS=str(args.trials),
        RLNAS_REQUIRE_SERVICES="1",  # a skipped test would leave the old screenshot in place
    )
    test = ROOT / "tests" / "test_dashboard_browser.py"
    # At low priority: the search trains 30 children on a machine others share.
    command = ["nice", "-n", "10", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command.append(str(test))
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
