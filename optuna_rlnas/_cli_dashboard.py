"""``rlnas dashboard``: optuna-dashboard on 127.0.0.1, with the study's artifact folder."""

from __future__ import annotations

import argparse
import os
import socket

from optuna_rlnas import storage as _storage
from optuna_rlnas._cli_common import check_url
from optuna_rlnas._cli_common import make_storage
from optuna_rlnas._cli_settings import CLIError
from optuna_rlnas.storage import mask_url


def _check_port(port: int) -> None:
    # Bound and released at once: a busy port is reported before anything is printed. The
    # dashboard's server reuses addresses too, so a port in TIME_WAIT passes.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise CLIError(
                f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}; choose another --port"
            ) from None


def _artifact_folder(args: argparse.Namespace) -> str | None:
    # The artifacts (saved models, architecture images) live in a folder of their own; with
    # SQLite, by default <file stem>_artifacts next to the database file (docs/dashboard.md).
    folder: str | None = args.artifact_dir
    if folder is not None:
        if not os.path.isdir(folder):
            raise CLIError(f"--artifact-dir must be an existing folder, but got {folder!r}")
        return folder
    check_url(args.storage)
    default = _storage.default_artifact_dir(args.storage)
    return default if default is not None and os.path.isdir(default) else None


def cmd_dashboard(args: argparse.Namespace) -> int:
    _check_port(args.port)
    folder = _artifact_folder(args)
    storage = make_storage(args.storage, must_exist=True)
    try:
        import optuna_dashboard
        from optuna.artifacts import FileSystemArtifactStore
    except ImportError:
        raise CLIError(
            'the dashboard needs optuna-dashboard: pip install "optuna-rlnas[dashboard]"'
        ) from None
    store = FileSystemArtifactStore(folder) if folder is not None else None
    print(f"dashboard of {mask_url(args.storage)} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
    print(f"artifacts from {folder}" if folder else "no artifact folder (--artifact-dir)")
    try:
        optuna_dashboard.run_server(storage, host="127.0.0.1", port=args.port, artifact_store=store)
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # taken between the check and the server's start
        raise CLIError(f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    return 0
