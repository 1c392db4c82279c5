"""Storage for many workers: an ``RDBStorage`` with heartbeats on, URLs that never leak, and
the worker's side of a shared study.

Workers on one machine or many share a study through one database URL (PostgreSQL in
production, SQLite for a single machine). :func:`make_storage` builds the storage the way a
fleet of workers needs it:

* Heartbeats on by default: each running trial records a heartbeat every
  ``heartbeat_interval`` seconds; a trial whose heartbeat is older than ``grace_period`` is
  failed by the next worker that starts a trial, and retried (Optuna's
  ``RetryHeartbeatStaleTrialCallback``, at most ``max_retry`` times). The retry is a WAITING
  trial with the same parameters, which the next free worker runs first.
* ``pool_pre_ping``: a connection that died (the database restarted) is replaced before use.
* The URL is checked with SQLAlchemy before anything connects (:func:`check_url`); errors name
  it with the password masked (:func:`mask_url`), and so does everything this package prints.

:func:`optimize` rides out a database restart. A worker that leaves calls
:func:`finish_worker`: it waits until no trial of the study is running, consumes the rest, and
records its controller's state as the study system attribute ``rlnas:worker:<id>`` (JSON), so a
fleet can be checked: every worker consumed every trial (:func:`worker_states`). Resume itself
needs nothing here: a joining ``RLNASSampler`` replays the finished trials (docs/scale-out.md).

See ``docs/scale-out.md`` for the guide.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import time
import uuid
import warnings
from typing import TYPE_CHECKING
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private

if TYPE_CHECKING:
    from optuna_rlnas._sampler import RLNASSampler

DEFAULT_HEARTBEAT_INTERVAL = 30  # seconds between heartbeats of a running trial
DEFAULT_GRACE_PERIOD = 120  # seconds without a heartbeat before a trial is failed
DEFAULT_MAX_RETRY = 3  # retries of a trial whose worker died
DEFAULT_CONNECT_TIMEOUT = 10  # seconds, PostgreSQL and MySQL
WORKER_PREFIX = "rlnas:worker:"

_logger = logging.getLogger(__name__)

# scheme://user:password@..., the password running to the last "@" of its line: a password with
# a raw "@" (malformed, but typed) is masked whole, never in part.
_USERINFO = re.compile(r"(?P<head>[A-Za-z0-9+.\-]+://[^:/@\s]*):.*@")
_DRIVER_HINTS = {
    "postgresql": "pip install 'optuna-rlnas[postgres]' (psycopg 3)",
    "mysql": "pip install pymysql and use mysql+pymysql://",
}


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``; safe to print and log.

    Works on malformed URLs too (anything of the form ``scheme://user:password@...``).

    Example:
        >>> mask_url("postgresql://rlnas:secret@db.example.org:5432/nas")
        'postgresql://rlnas:***@db.example.org:5432/nas'
    """
    return _USERINFO.sub(r"\g<head>:***@", str(url))


def check_url(url: str, *, must_exist: bool = False) -> Any:
    """Parse a storage URL and check that its database driver is installed.

    Returns the parsed ``sqlalchemy.engine.URL``. Nothing connects and nothing is created. A
    ``postgresql://`` URL without a driver uses psycopg (3), SQLAlchemy's default, or else
    psycopg2. For SQLite the file's folder must exist, and with ``must_exist`` the file too (so
    that reading a study never creates an empty database).

    Raises:
        ValueError: The URL is not a string, cannot be parsed, names an unknown database or no
            SQLite file, or the SQLite file's folder does not exist.
        FileNotFoundError: ``must_exist`` and the SQLite file does not exist.
        ImportError: The database's Python driver is not installed (with an install hint).

    Example:
        >>> check_url("sqlite:///study.db").drivername
        'sqlite'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError

    if not isinstance(url, str) or not url.strip():
        raise ValueError(
            f"storage URL must be a non-empty string such as "
            f"'postgresql://user:password@host:5432/db' or 'sqlite:///study.db', but got {url!r}."
        )
    shown = mask_url(url)
    try:
        parsed = make_url(url)
    except Exception as e:  # ArgumentError, or ValueError from a bad port
        raise ValueError(
            f"storage URL {shown!r} is malformed ({mask_url(str(e))}): expected "
            "dialect://user:password@host:port/database, e.g. sqlite:///rlnas.db or "
            "postgresql://user:password@host:5432/database."
        ) from None
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise ValueError(
            f"storage URL {shown!r} names the unknown database {parsed.drivername!r}; "
            "use postgresql://, mysql+pymysql:// or sqlite:///."
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as e:
        if parsed.drivername == "postgresql":  # SQLAlchemy 2.1's default is psycopg (3)
            try:
                return check_url(
                    parsed.set(drivername="postgresql+psycopg2").render_as_string(False)
                )
            except ImportError:
                pass
        hint = _DRIVER_HINTS.get(parsed.get_backend_name(), f"install the driver of {dialect.name}")
        raise ImportError(
            f"the driver of storage URL {shown!r} is not installed ({e}); {hint}."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(parsed, shown, must_exist)
    return parsed


def sqlite_path(parsed: Any) -> str | None:
    """The file of a parsed ``sqlite://`` URL; ``None`` for an in-memory database."""
    database = parsed.database or ""
    if parsed.query.get("uri") == "true" and database.startswith("file:"):
        database = database[len("file:") :]  # sqlite:///file:NAME?mode=ro&uri=true
    return None if database in ("", ":memory:") else database


def default_artifact_dir(url: str) -> str | None:
    """``<file stem>_artifacts`` beside the SQLite file of ``url``: where ``rlnas run`` uploads
    its saved model and ``rlnas dashboard`` looks by default. ``None`` for other databases (and
    an in-memory SQLite), whose artifacts need a folder named by the user."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    path = sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
    return None if path is None else os.path.splitext(path)[0] + "_artifacts"


def _check_sqlite_file(parsed: Any, shown: str, must_exist: bool) -> None:
    path = sqlite_path(parsed)
    if path is None:  # in memory
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"the folder of the SQLite file in {shown!r} does not exist: {folder}.")
    if must_exist and not os.path.isfile(path):
        raise FileNotFoundError(f"no database at {shown!r}.")


def make_storage(
    url: str,
    *,
    heartbeat_interval: int | None = DEFAULT_HEARTBEAT_INTERVAL,
    grace_period: int | None = DEFAULT_GRACE_PERIOD,
    max_retry: int | None = DEFAULT_MAX_RETRY,
    engine_kwargs: dict[str, Any] | None = None,
) -> RDBStorage:
    """An ``RDBStorage`` for many workers, heartbeats on.

    A trial whose worker died (SIGKILL, preemption, lost node) is failed once its last heartbeat
    is more than ``grace_period`` seconds old, by the next worker that starts a trial, and
    retried with the same parameters. So it is failed within ``grace_period`` plus the time until
    some worker starts its next trial; the heartbeat itself lags by at most
    ``heartbeat_interval``.

    Args:
        url: SQLAlchemy URL, e.g. ``postgresql://user:password@host:5432/db``.
        heartbeat_interval: Seconds between heartbeats; ``None`` turns heartbeats (and so the
            failing and retrying of dead workers' trials) off.
        grace_period: Seconds without a heartbeat before a trial counts as dead; must exceed
            ``heartbeat_interval``. ``None``: twice ``heartbeat_interval`` (Optuna's default).
        max_retry: Retries of a dead worker's trial; ``0`` fails it for good, ``None`` retries
            without a bound.
        engine_kwargs: Passed to ``sqlalchemy.create_engine``; by default
            ``pool_pre_ping=True`` (a connection that died, say with a database restart, is
            replaced) and a connect timeout for PostgreSQL and MySQL.

    Raises:
        ValueError: Invalid URL or arguments (the message masks the password).
        ImportError: The database driver is missing.
        ConnectionError: The database cannot be reached or read.

    Example:
        >>> import optuna
        >>> storage = make_storage("sqlite:///:memory:", heartbeat_interval=10, grace_period=30)
        >>> study = optuna.create_study(storage=storage)
        >>> storage.heartbeat_interval, storage.grace_period
        (10, 30)
    """
    parsed = check_url(url)
    _check_count("heartbeat_interval", heartbeat_interval, 1, " (seconds)")
    _check_count("grace_period", grace_period, 1, " (seconds)")
    _check_count("max_retry", max_retry, 0)
    if heartbeat_interval is not None and grace_period is not None:
        if grace_period <= heartbeat_interval:
            raise ValueError(
                f"grace_period must exceed heartbeat_interval (else live trials are failed), but "
                f"got grace_period={grace_period} and heartbeat_interval={heartbeat_interval}."
            )

    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "mysql"):
        kwargs["connect_args"] = {"connect_timeout": DEFAULT_CONNECT_TIMEOUT}
    kwargs.update(engine_kwargs or {})

    from sqlalchemy.exc import SQLAlchemyError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        heartbeat: dict[str, Any] = {}
        if heartbeat_interval is not None:
            heartbeat = {
                "heartbeat_interval": heartbeat_interval,
                "grace_period": grace_period,
                "heartbeat_stale_trial_callback": (
                    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
                ),
            }
        attempts = 5
        for attempt in range(attempts):
            try:
                return RDBStorage(parsed.render_as_string(False), engine_kwargs=kwargs, **heartbeat)
            except SQLAlchemyError as e:
                reason = database_error(e) or type(e).__name__
                if attempt + 1 < attempts and _lost_creation_race(e, reason):
                    time.sleep((attempt + 1) * (0.3 + 0.4 * random.random()))  # apart, jittered
                    continue
                raise ConnectionError(f"cannot open storage {mask_url(url)!r}: {reason}") from None
    raise AssertionError("unreachable")


def _lost_creation_race(error: Exception, reason: str) -> bool:
    # Workers that start together on an empty database race to create Optuna's tables; the
    # losers see "duplicate key" (PostgreSQL), "table ... already exists" or "database is locked"
    # (SQLite), and find the tables on a retry.
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.exc import ProgrammingError

    if isinstance(error, (IntegrityError, ProgrammingError)):
        return True
    return "already exists" in reason or "database is locked" in reason


def optimize(
    study: optuna.Study,
    objective: Any,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    callbacks: list[Any] | None = None,
    catch: tuple[type[Exception], ...] = (),
    outage_timeout: float = 600.0,
    poll: float = 5.0,
) -> None:
    """``study.optimize`` that rides out a database outage (a restart, a fail-over).

    When the database goes away, Optuna's ``optimize`` raises. This waits for the database to
    answer again (checking every ``poll`` seconds, for up to ``outage_timeout``), logs one
    warning, and goes on with the trials left to run. Finished trials are in the database, so
    none is lost; the trial in flight is left RUNNING and, with heartbeats on, failed after the
    grace period by the next trial start of any worker and retried. Other errors propagate as
    they are; an outage longer than ``outage_timeout`` raises ``ConnectionError``.
    """
    done = 0

    def count(study: optuna.Study, trial: Any) -> None:
        nonlocal done
        done += 1

    start = time.monotonic()
    while True:
        left = None if n_trials is None else n_trials - done
        budget = None if timeout is None else timeout - (time.monotonic() - start)
        if (left is not None and left <= 0) or (budget is not None and budget <= 0):
            return
        try:
            study.optimize(
                objective,
                n_trials=left,
                timeout=budget,
                callbacks=[*(callbacks or []), count],
                catch=catch,
            )
            return
        except Exception as e:
            reason = _outage(e)
            if reason is None:
                raise
            _logger.warning(
                f"Lost the database of study {study.study_name!r} ({reason}); waiting up to "
                f"{outage_timeout:.0f} s for it. Finished trials are safe; the trial in flight "
                "is failed by the heartbeat check and retried."
            )
            _wait_for_database(study, outage_timeout, poll, reason)
            _logger.warning(f"The database of study {study.study_name!r} is back; going on.")


def database_error(error: BaseException) -> str | None:
    """The first line of the database's own error in ``error``'s chain (password masked).

    ``None`` if no SQLAlchemy error is in the chain. Optuna wraps a failed commit in a
    ``StorageInternalError`` whose message guesses at the cause ("e.g. exceeding max length");
    this digs out what the database said ("attempt to write a readonly database").
    """
    from sqlalchemy.exc import SQLAlchemyError

    for e in exception_chain(error):
        if isinstance(e, SQLAlchemyError):
            lines = str(getattr(e, "orig", None) or e).strip().splitlines()
            return mask_url(lines[0]) if lines else type(e).__name__
    return None


def _outage(error: BaseException) -> str | None:
    """The database's connection error in ``error``'s chain, if any (see :func:`optimize`)."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import DisconnectionError

    for e in exception_chain(error):
        if isinstance(e, (DBAPIError, DisconnectionError)) and (
            getattr(e, "connection_invalidated", False)
            or type(e).__name__ in ("OperationalError", "InterfaceError", "DisconnectionError")
        ):
            return database_error(e)
    return None


def exception_chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it was raised from or while handling, each once."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__]
    return seen


def _wait_for_database(study: optuna.Study, limit: float, poll: float, reason: str) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            study.user_attrs  # one query  # noqa: B018
            return
        except Exception as e:
            if _outage(e) is None:
                raise
        if time.monotonic() >= deadline:
            raise ConnectionError(
                f"the database of study {study.study_name!r} has not answered for {limit:.0f} s "
                f"(first error: {reason})"
            )
        time.sleep(poll)


# --- the worker's side of a shared study -------------------------------------------------


def worker_state(sampler: RLNASSampler) -> dict[str, Any]:
    """What a worker records about its controller: JSON-safe numbers only."""
    return {
        "n_consumed": sampler.n_consumed,
        "n_updates": sampler.n_updates,
        "baseline": sampler.baseline,
        # A fingerprint of the policy: equal for controllers that made the same updates.
        "param_sq_norm": float(
            sum(float(p.detach().double().pow(2).sum()) for p in sampler.controller.parameters())
        ),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "time": time.time(),
    }


def record_worker_state(
    study: optuna.Study, sampler: RLNASSampler, worker_id: str | None = None
) -> str:
    """Write ``sampler``'s state to the study as ``rlnas:worker:<worker_id>``; returns the id."""
    worker_id = worker_id or uuid.uuid4().hex[:12]
    _private.set_study_system_attr(study, WORKER_PREFIX + worker_id, worker_state(sampler))
    return worker_id


def worker_states(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """The recorded state of every worker that finished, by worker id."""
    return {
        key[len(WORKER_PREFIX) :]: value
        for key, value in _private.study_system_attrs(study).items()
        if key.startswith(WORKER_PREFIX) and isinstance(value, dict)
    }


def wait_for_trials(
    study: optuna.Study, *, n_finished: int | None = None, timeout: float, poll: float = 0.5
) -> bool:
    """Wait until no trial is RUNNING and at least ``n_finished`` trials finished.

    ``False`` if ``timeout`` seconds pass first. Without ``n_finished`` this is best effort:
    another worker between two trials has none running for a moment. With heartbeats on, each
    poll also fails the trials of dead workers (their retries wait, as WAITING trials, for the
    next worker), so a dead worker holds the wait for at most the grace period.
    """
    deadline = time.monotonic() + timeout
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a no-op without heartbeats
        _private.forget_cached_trials(study)
        trials = _private.all_trials(study)
        finished = sum(t.state.is_finished() for t in trials)
        running = any(t.state == TrialState.RUNNING for t in trials)
        if finished >= (n_finished or 0) and not running:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def finish_worker(
    study: optuna.Study,
    sampler: RLNASSampler,
    *,
    n_finished: int | None = None,
    worker_id: str | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """After a worker's last trial: wait for the others, consume the rest, record the state.

    Args:
        n_finished: Wait for this many finished trials (the study's total, when known), as
            well as for no trial running or waiting.
        worker_id: The key of the record, ``rlnas:worker:<worker_id>`` (random by default).
        timeout: Seconds to wait at most; then the worker consumes what has finished.

    Returns the recorded state, with ``worker_id`` and ``complete`` (whether the wait ended
    before ``timeout``) added.
    """
    complete = wait_for_trials(study, n_finished=n_finished, timeout=timeout)
    sampler.consume(study)
    worker_id = record_worker_state(study, sampler, worker_id)
    return {**worker_state(sampler), "worker_id": worker_id, "complete": complete}


def _check_count(name: str, value: object, minimum: int, unit: str = "") -> None:
    """``value`` must be ``None`` or an int (not a bool) >= ``minimum``."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or value < minimum
    ):
        bound = "> 0" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be None or an int {bound}{unit}, but got {value!r}.")
