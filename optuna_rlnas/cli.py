"""The ``rlnas`` command: ``search``, ``run``, ``best`` and ``dashboard``.

Bad input and faults (an unknown dataset, a folder of junk, a malformed storage URL, a study
that does not exist, a read-only or corrupt database, a port in use) end with one line
``rlnas: error: ...`` on stderr and exit status 2, before any file or study is created or
changed. Passwords in storage URLs are never printed. Ctrl-C ends a search cleanly: every
finished trial stays in the storage, the interrupted one is marked failed, and the exit status
is 130. The table of errors, each produced by a test, is in ``docs/cli.md``.

Rooms, imports running one way (docs/how-it-works.md, "Map of the code"): this module (the
entry point) -> ``_cli_parser`` (options) -> one module per command (``_cli_search``,
``_cli_run``, ``_cli_best``, ``_cli_dashboard``) -> ``_cli_common`` (storage opened, sampler
made, value named) -> ``_cli_settings`` (the study's settings, how a worker joins) and
``optuna_rlnas.storage``; ``_cli_report`` holds ``rlnas search``'s one-line reports.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from optuna_rlnas import storage as _storage
from optuna_rlnas._cli_common import make_storage
from optuna_rlnas._cli_parser import build_parser
from optuna_rlnas._cli_settings import CONFIG_ATTR
from optuna_rlnas._cli_settings import SEARCH_DEFAULTS
from optuna_rlnas._cli_settings import CLIError
from optuna_rlnas.storage import mask_url

__all__ = ["CONFIG_ATTR", "SEARCH_DEFAULTS", "CLIError", "build_parser", "main", "make_storage"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rlnas`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "cost", None) is not None and getattr(args, "target", None) is None:
        parser.error("--cost needs --target")
    try:
        status: int = args.handler(args)
        return status
    except CLIError as exc:
        sys.stderr.write(f"rlnas: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("rlnas: interrupted\n")
        return 130
    except Exception as exc:  # a database fault (read-only, corrupt, gone): one line too
        reason = _storage.database_error(exc)
        if reason is None:
            raise  # a bug: its traceback is what a report needs
        sys.stderr.write(f"rlnas: error: cannot use storage {mask_url(args.storage)!r}: {reason}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
