"""Every row of the error table in ``docs/cli.md``, run: the exact line on stderr, nothing on
stdout, exit status 2, no traceback, no file created or changed, no study changed.

The table is the test data, so the documentation and the behaviour cannot drift apart. Commands
and messages use two placeholders: ``DIR``, a fresh folder holding the fixtures below (also the
working directory, so the default ``sqlite:///rlnas.db`` would land there), and ``PORT``, a
loopback port another socket listens on. A ``…`` in a message stands for the database driver's
own words, which change with its version.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from optuna_rlnas.cli import CONFIG_ATTR
from optuna_rlnas.cli import SEARCH_DEFAULTS
from optuna_rlnas.cli import main

DOC = Path(__file__).parents[1] / "docs" / "cli.md"
HEADING = "### Every error, and the line it prints"
SECRET = "hunter2"  # the password of the URLs in the table, never printed


def read_table(path: Path = DOC) -> list[tuple[str, str, str]]:
    """``(case, command, message)`` of every row of the table under :data:`HEADING`."""
    text = path.read_text()
    assert HEADING in text, f"{path} has no section {HEADING!r}"
    rows = []
    for line in text.split(HEADING, 1)[1].splitlines():
        if rows and not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue  # the header and its rule
        case, command, message = cells
        rows.append((case, command.strip("`"), message.strip("`")))
    return rows


ROWS = read_table()


def test_the_table_has_at_least_25_rows_each_a_distinct_case() -> None:
    assert len(ROWS) >= 25
    assert len({case for case, _, _ in ROWS}) == len(ROWS)
    assert len({command for _, command, _ in ROWS}) == len(ROWS)


def _study(url: str, *, direction: str = "maximize", settings: bool = True) -> optuna.Study:
    study = optuna.create_study(storage=url, study_name="rlnas", direction=direction)
    if settings:
        study.set_user_attr(CONFIG_ATTR, dict(SEARCH_DEFAULTS))
    return study


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixtures the table's commands name (module scope: the commands change none)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = tmp_path_factory.mktemp("errors")
    (root / "notes.txt").write_text("not a database, not a dataset\n")
    # A study as a search leaves it, except that its trial records no architecture.
    study = _study(f"sqlite:///{root / 'study.db'}")
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"val_acc": 0.5}))
    _study(f"sqlite:///{root / 'empty.db'}")
    _study(f"sqlite:///{root / 'minimise.db'}", direction="minimize", settings=False)
    # A study whose file is overwritten in the middle, where its trials are.
    corrupt = _study(f"sqlite:///{root / 'corrupt.db'}")
    for k in range(60):
        corrupt.add_trial(optuna.trial.create_trial(value=k / 60, user_attrs={"pad": "x" * 400}))
    data = bytearray((root / "corrupt.db").read_bytes())
    middle = len(data) // 2 // 4096 * 4096  # a whole page: SQLite's default page size
    data[middle : middle + 4096] = b"\xff" * 4096
    (root / "corrupt.db").write_bytes(bytes(data))
    # Folders with the right file names and junk inside.
    junk_cifar = root / "junk-cifar"
    junk_cifar.mkdir()
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        (junk_cifar / name).write_text("not a CIFAR batch\n")
    junk_fashion = root / "junk-fashion"
    junk_fashion.mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (junk_fashion / stem).write_text("not an IDX file\n")
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (junk_fashion / f"{stem}.gz").write_text("not gzip either\n")
    return root


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def _listing(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


def _matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, actual) is not None


@pytest.mark.parametrize(("case", "command", "message"), ROWS, ids=[r[0] for r in ROWS])
def test_error_table_row(case, command, message, folder, busy_port, capsys, monkeypatch) -> None:
    monkeypatch.chdir(folder)
    before = _listing(folder)
    argv = shlex.split(command.replace("DIR", str(folder)).replace("PORT", str(busy_port)))
    assert argv[0] == "rlnas"
    try:
        status = main(argv[1:])
    except SystemExit as exit:  # argparse's own errors exit from parse_args
        status = exit.code
    out, err = capsys.readouterr()
    assert out == ""  # nothing before the error, such as a "serving on ..." line
    shown = err.replace(str(folder), "DIR").replace(str(busy_port), "PORT")
    assert status == 2, err
    assert "Traceback" not in err and SECRET not in err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert _matches(message, shown.rstrip("\n")), f"docs/cli.md says\n{message}\nbut got\n{shown}"
    assert _listing(folder) == before  # nothing created, nothing changed
