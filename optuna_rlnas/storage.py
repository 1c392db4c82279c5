"""Storage for many workers: an ``RDBStorage`` with heartbeats on, and URLs that never leak.

Workers on one machine or many share a study through one database URL (PostgreSQL in
production, SQLite for a single machine). :func:`make_storage` builds the storage the way a
fleet of workers needs it:

* Heartbeats on by default: each running trial records a heartbeat every
  ``heartbeat_interval`` seconds; a trial whose heartbeat is older than ``grace_period`` is
  failed by the next worker that starts a trial, and retried (Optuna's
  ``RetryHeartbeatStaleTrialCallback``, at most ``max_retry`` times). The retry is a WAITING
  trial with the same parameters, which the next free worker runs first.
* ``pool_pre_ping``: a connection that died (the database restarted) is replaced before use.
* The URL is checked with SQLAlchemy before anything connects; errors name it with the
  password masked (:func:`mask_url`), and so does everything this package prints or logs.

See ``docs/scale-out.md`` for the guide.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from typing import Any

import optuna
from optuna.storages import RDBStorage

DEFAULT_HEARTBEAT_INTERVAL = 30  # seconds between heartbeats of a running trial
DEFAULT_GRACE_PERIOD = 120  # seconds without a heartbeat before a trial is failed
DEFAULT_MAX_RETRY = 3  # retries of a trial whose worker died
DEFAULT_CONNECT_TIMEOUT = 10  # seconds, PostgreSQL and MySQL

_logger = logging.getLogger(__name__)

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z0-9+.\-]+://)(?P<user>[^:/@]*):(?P<password>[^@/]*)@")
_DRIVER_HINTS = {
    "postgresql": "pip install 'optuna-rlnas[postgres]' (psycopg2-binary)",
    "mysql": "pip install pymysql and use mysql+pymysql://",
}


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``; safe to print and log.

    Works on malformed URLs too (anything of the form ``scheme://user:password@...``).

    Example:
        >>> mask_url("postgresql://rlnas:secret@db.example.org:5432/nas")
        'postgresql://rlnas:***@db.example.org:5432/nas'
    """
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # malformed: mask by pattern, never echo the raw string
        return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(url))


def check_url(url: str) -> Any:
    """Parse a storage URL and check that its database driver is installed.

    Returns the parsed ``sqlalchemy.engine.URL``. Nothing connects. A ``postgresql://`` URL
    without a driver uses psycopg (3), SQLAlchemy's default, or else psycopg2.

    Raises:
        ValueError: The URL is not a string, cannot be parsed, or names an unknown database.
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
    try:
        parsed = make_url(url)
    except Exception as e:  # ArgumentError, or ValueError from a bad port
        raise ValueError(
            f"storage URL {mask_url(url)!r} is not a valid SQLAlchemy URL "
            f"(dialect+driver://user:password@host:port/database): {e}"
        ) from None
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise ValueError(
            f"storage URL {mask_url(url)!r} names the unknown database {parsed.drivername!r}; "
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
            f"the driver of storage URL {mask_url(url)!r} is not installed ({e}); {hint}."
        ) from None
    return parsed


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
        ConnectionError: The database cannot be reached.

    Example:
        >>> import optuna
        >>> storage = make_storage("sqlite:///:memory:", heartbeat_interval=10, grace_period=30)
        >>> study = optuna.create_study(storage=storage)
        >>> storage.heartbeat_interval, storage.grace_period
        (10, 30)
    """
    parsed = check_url(url)
    if heartbeat_interval is not None and not (
        _is_int(heartbeat_interval) and heartbeat_interval > 0
    ):
        raise ValueError(
            f"heartbeat_interval must be None or an int > 0 (seconds), but got "
            f"{heartbeat_interval!r}."
        )
    if grace_period is not None and not (_is_int(grace_period) and grace_period > 0):
        raise ValueError(
            f"grace_period must be None or an int > 0 (seconds), but got {grace_period!r}."
        )
    if heartbeat_interval is not None and grace_period is not None:
        if grace_period <= heartbeat_interval:
            raise ValueError(
                f"grace_period must exceed heartbeat_interval (else live trials are failed), but "
                f"got grace_period={grace_period} and heartbeat_interval={heartbeat_interval}."
            )
    if max_retry is not None and not (_is_int(max_retry) and max_retry >= 0):
        raise ValueError(f"max_retry must be None or an int >= 0, but got {max_retry!r}.")

    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "mysql"):
        kwargs["connect_args"] = {"connect_timeout": DEFAULT_CONNECT_TIMEOUT}
    kwargs.update(engine_kwargs or {})

    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.exc import ProgrammingError
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
        for attempt in range(3):
            try:
                return RDBStorage(parsed.render_as_string(False), engine_kwargs=kwargs, **heartbeat)
            except (IntegrityError, ProgrammingError):
                # Workers that start together on an empty database race to create the tables;
                # the losers see "duplicate key" or "already exists" and find them on a retry.
                if attempt == 2:
                    raise
                time.sleep(0.5 + attempt)
            except SQLAlchemyError as e:
                reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
                raise ConnectionError(f"cannot open storage {mask_url(url)}: {reason}") from None
    raise AssertionError("unreachable")


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


def _outage(error: BaseException) -> str | None:
    """The first line of the database's connection error in ``error``'s chain, if any."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import DisconnectionError

    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (DBAPIError, DisconnectionError)) and (
            getattr(e, "connection_invalidated", False)
            or type(e).__name__ in ("OperationalError", "InterfaceError", "DisconnectionError")
        ):
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", reason)
        todo += [e.__cause__, e.__context__]
    return None


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


def stale_after(storage: RDBStorage) -> int | None:
    """Seconds without a heartbeat after which ``storage`` counts a running trial as dead."""
    if storage.heartbeat_interval is None:
        return None
    return storage.grace_period or 2 * storage.heartbeat_interval


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
