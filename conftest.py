"""Fixtures shared by every app's tests: real PostgreSQL, real Redis."""

from __future__ import annotations

import time

import pytest
from django.db import connections
from rest_framework.test import APIClient

from opply.common.redis import get_redis
from opply.identity.testing import bearer_client


@pytest.fixture(scope="session", autouse=True)
def _events_of_this_session():
    """Order events go to an exchange and queues of this test session's own on
    the shared broker (other checkouts' workers never see them), deleted at the end."""
    import uuid

    from django.conf import settings

    suffix = uuid.uuid4().hex[:8]
    settings.ORDER_EVENTS_EXCHANGE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}.test-{suffix}.orders"
    settings.FULFILMENT_QUEUE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}.test-{suffix}.fulfilment"
    yield
    from opply.orders.tests.broker import delete_topology

    delete_topology()


@pytest.fixture(autouse=True)
def _clean_redis():
    """Every test starts with an empty Redis database (the test one, db 15)."""
    get_redis().flushdb()
    yield


@pytest.fixture(autouse=True)
def _throttle_windows_just_opened(monkeypatch):
    """Every test counts in rate-limit windows that opened a second ago.

    The throttles count in fixed windows (a minute, a day) on the clock; a test
    whose requests straddled a window's end would see its count start again
    and a limit it tests not bite. Shifted to just past midnight, a test has
    59 seconds of every window before the next one opens.
    """
    from opply.common import throttling

    started = time.time()
    shift = started // 86400 * 86400 + 1 - started
    monkeypatch.setattr(throttling, "now", lambda: time.time() + shift)


@pytest.fixture(autouse=True)
def _replica_shares_primary_connection():
    """Let replica reads see the test's uncommitted rows.

    In tests the ``replica`` alias mirrors ``default`` (settings TEST.MIRROR),
    but as its own connection it cannot see the rows a test creates inside the
    transaction pytest-django wraps around it. Within the test's thread the
    alias therefore shares the primary's connection; threads started by a test
    open their own, real replica connections (those tests commit).
    """
    replica = connections["replica"]
    connections["replica"] = connections["default"]
    yield
    connections["replica"] = replica


@pytest.fixture
def redis_down():
    """The Redis of the availability store, carts and page cache is unreachable."""
    from opply.common.testing import DEAD_REDIS_URL, redis_at

    with redis_at(DEAD_REDIS_URL):
        yield


@pytest.fixture
def replica_down():
    """The replica is configured but does not answer (connection refused)."""
    from opply.common.testing import refused_port, replica_at

    with replica_at(refused_port()):
        yield


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def password() -> str:
    return "correct-horse-battery-9"


@pytest.fixture
def customer(db, password):
    from opply.identity.tests.factories import UserFactory

    return UserFactory(password=password)


@pytest.fixture
def staff(db, password):
    from opply.identity.tests.factories import UserFactory

    return UserFactory(password=password, is_staff=True)


@pytest.fixture
def customer_client(customer) -> APIClient:
    return bearer_client(customer)


@pytest.fixture
def staff_client(staff) -> APIClient:
    return bearer_client(staff)
