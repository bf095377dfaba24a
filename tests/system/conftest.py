"""Fixtures of the system suites (``make test-replica``, ``make test-faults``).

They run in a session of their own (``-p tests.system.plugin``) against a
real primary and streaming standby built for the session: the test process
reads through the real router (its ``replica`` alias is the standby), and the
servers under test (gunicorn, Celery) are real processes on the same pair.
No pytest-django test database or transaction wrapper: every test starts
from empty tables that the standby has replayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from opply.common.db.replica import breaker
from opply.common.redis import reset_redis_client
from opply.identity.testing import bearer_client
from tests.system import plugin
from tests.system.cluster import PgPair, RedisServer

REPORT = pytest.StashKey[list[dict[str, Any]]]()


@pytest.fixture(scope="session")
def pair() -> PgPair:
    if plugin.current is None:
        pytest.fail("the system suites run with their own PostgreSQL pair: make test-replica / make test-faults", pytrace=False)
    return plugin.current


@pytest.fixture(scope="session", autouse=True)
def _database_access(pair: PgPair, django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock():
        yield


@pytest.fixture(autouse=True)
def _replica_shares_primary_connection() -> Iterator[None]:
    """Overrides the main suite's fixture: here the replica is a real standby."""
    yield


@pytest.fixture(autouse=True)
def _fresh_state(pair: PgPair) -> Iterator[None]:
    _empty_tables()
    pair.wait_for_replay()
    breaker.reset()
    yield
    # Whatever a test did to the pair, the next one finds it whole.
    if not pair.standby.is_running():
        pair.standby.start()
    pair.resume_replay()
    breaker.reset()
    connections.close_all()


def _empty_tables() -> None:
    connections.close_all()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables
             WHERE table_type = 'BASE TABLE'
               AND (table_schema IN ('identity', 'catalog', 'orders')
                    OR (table_schema = 'public' AND table_name LIKE 'token_blacklist%'))
            """
        )
        tables = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture
def customer(password):  # type: ignore[no-untyped-def]
    from opply.identity.tests.factories import UserFactory

    return UserFactory(password=password)


@pytest.fixture
def staff(password):  # type: ignore[no-untyped-def]
    from opply.identity.tests.factories import UserFactory

    return UserFactory(password=password, is_staff=True)


@pytest.fixture
def customer_client(customer) -> APIClient:  # type: ignore[no-untyped-def]
    return bearer_client(customer)


@pytest.fixture
def own_redis(settings) -> Iterator[RedisServer]:  # type: ignore[no-untyped-def]
    """A Redis server of the test's own (to kill), used by this process too."""
    server = RedisServer().start()
    reset_redis_client()
    settings.REDIS_URL = server.url
    try:
        yield server
    finally:
        server.stop()
        reset_redis_client()


@pytest.fixture
def report(request) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What clients saw and what the invariants found, printed at the end of
    the session (the numbers behind the README's failure-modes table)."""
    entry: dict[str, Any] = {"test": request.node.name}
    request.config.stash.setdefault(REPORT, []).append(entry)
    return entry


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    entries = config.stash.get(REPORT, [])
    if not entries:
        return
    terminalreporter.section("fault report: what clients saw, and the invariants afterwards")
    for entry in entries:
        terminalreporter.write_line(json.dumps(entry, sort_keys=True, default=str))
