"""A saved model's test accuracy measured in a fresh process (the saved files are all it has)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def reload_test_acc(folder: Path, train_subset: int | None = None) -> float:
    """``load(folder)`` in a new interpreter, checked to be in eval mode, then its accuracy on
    the digits test split (``train_subset`` as the data module that trained it had it)."""
    script = (
        "import json, sys\n"
        "from optuna_rlnas.child import DigitsDataModule, evaluate, load\n"
        "net = load(sys.argv[1])\n"
        "assert not net.training\n"
        f"dm = DigitsDataModule(train_subset={train_subset!r}); dm.setup()\n"
        "print(json.dumps(evaluate(net, dm.test_dataloader())))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return float(json.loads(result.stdout))
