"""Shared fixtures. ``postgres_url``: the test PostgreSQL server, or a skip (a failure in CI).

``.ci/install`` writes ``tests/services.env`` naming the services it started (the PostgreSQL URL,
and ``RLNAS_REQUIRE_SERVICES=1``); it is read here, so after ``bash .ci/install`` a plain
``python -m pytest`` runs the PostgreSQL and browser tests as CI does, and fails, never skips,
when a service is missing. Variables already in the environment take precedence.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_ENV = "RLNAS_TEST_POSTGRES_URL"
REQUIRE_ENV = "RLNAS_REQUIRE_SERVICES"
SERVICES_FILE = Path(__file__).with_name("services.env")


def _read_services(path: Path = SERVICES_FILE) -> dict[str, str]:
    """``KEY=VALUE`` lines of ``path`` (``#`` starts a comment); empty if there is no file."""
    if not path.is_file():
        return {}
    pairs = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


for _key, _value in _read_services().items():  # at import: tests read os.environ, and so do
    os.environ.setdefault(_key.strip(), _value.strip())  # the worker processes they start


def _missing_service(reason: str) -> None:
    """Skip, or fail where ``RLNAS_REQUIRE_SERVICES=1`` (CI): a missing server is a failure."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this fails instead of skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _postgres_server() -> str:
    from sqlalchemy import create_engine
    from sqlalchemy import text

    from optuna_rlnas.storage import check_url
    from optuna_rlnas.storage import mask_url

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        _missing_service(f"{POSTGRES_ENV} is not set; .ci/install starts a test server")
    reason = None
    try:
        engine = create_engine(check_url(url), connect_args={"connect_timeout": 5})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
    if reason is not None:  # outside the except: no chained traceback showing the password
        _missing_service(f"PostgreSQL at {mask_url(url)} is unreachable: {mask_url(reason)}")
    return url


@pytest.fixture
def postgres_url(_postgres_server: str) -> str:
    """The URL of the test PostgreSQL database; pair it with ``study_name`` for isolation."""
    return _postgres_server


@pytest.fixture
def study_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A study name no other test (or concurrent test run) uses."""
    yield f"{request.node.name[:40]}-{uuid.uuid4().hex[:10]}"
