import copy
from contextlib import contextmanager

import pytest
from django.db import connections
from django.test import override_settings

from opply.catalog.tasks import release_expired_holds
from opply.common.testing import DEAD_REDIS_URL, assert_problem, redis_at, refused_port, replica_at

pytestmark = pytest.mark.django_db


@contextmanager
def primary_at(port: int):
    """The primary alias points where no PostgreSQL answers."""
    from opply.common.db.backend.base import DatabaseWrapper

    config = copy.deepcopy(connections["default"].settings_dict)
    config["PORT"] = port
    wrapper = DatabaseWrapper(config, "default")
    previous = connections["default"]
    connections["default"] = wrapper
    try:
        yield
    finally:
        connections["default"] = previous
        wrapper.close()


def test_live_answers_without_io(api_client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = api_client.get("/health/live/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_checks_every_dependency_and_the_worker(api_client):
    response = api_client.get("/health/ready/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["checks"] == {"primary": "ok", "replica": "ok", "redis": "ok", "broker": "ok", "worker": "degraded"}
    # No worker runs in this test: nothing consumes the queue, nothing swept.
    assert body["status"] == "degraded"
    assert body["degraded"] == ["worker"]
    assert body["details"]["worker"]["consumers"] == 0
    assert body["details"]["worker"]["sweeper_last_run"] is None
    assert body["details"]["replica"] == {"configured": False, "reads": "primary"}


def test_the_sweeper_leaves_a_heartbeat_that_readiness_reports(api_client):
    release_expired_holds()

    worker = api_client.get("/health/ready/").json()["details"]["worker"]

    assert worker["sweeper_last_run"] is not None
    assert 0 <= worker["sweeper_age_seconds"] < 5
    assert worker["impact"] == "no worker consumes the queue"


def test_redis_down_degrades_readiness_but_the_instance_stays_ready(api_client):
    with redis_at(DEAD_REDIS_URL):
        response = api_client.get("/health/ready/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["checks"]["redis"] == "degraded"
    assert body["checks"]["primary"] == "ok"
    assert "carts answer 503" in body["details"]["redis"]["impact"]
    assert body["details"]["worker"]["sweeper_last_run"] == "unknown (Redis unreachable)"


def test_the_broker_down_degrades_readiness(api_client):
    with override_settings(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:1//"):
        response = api_client.get("/health/ready/")

    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["broker"] == "degraded"
    assert body["checks"]["worker"] == "degraded"


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_the_replica_down_degrades_readiness_and_reads_go_to_the_primary(api_client):
    with replica_at(refused_port()):
        response = api_client.get("/health/ready/")

    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["replica"] == "degraded"
    assert body["details"]["replica"]["reads"] == "primary"
    assert "unreachable" in body["details"]["replica"]["reason"]


def test_only_the_primary_down_makes_the_instance_unready(api_client):
    with primary_at(refused_port()):
        response = api_client.get("/health/ready/")

    body = assert_problem(response, 503, "not_ready")
    assert body["down"] == ["primary"]
    assert body["checks"]["primary"] == "down"
    assert response["Retry-After"]
