import pytest
from django.test import override_settings

from opply.common.redis import reset_redis_client
from opply.common.testing import assert_problem

pytestmark = pytest.mark.django_db


def test_live_answers_without_io(api_client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = api_client.get("/health/live/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_checks_every_dependency(api_client):
    response = api_client.get("/health/ready/")

    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"primary": "ok", "replica": "ok", "redis": "ok", "broker": "ok"}


def test_ready_is_503_naming_redis_when_redis_is_down(api_client):
    reset_redis_client()
    try:
        with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
            response = api_client.get("/health/ready/")
    finally:
        reset_redis_client()

    body = assert_problem(response, 503, "not_ready")
    assert body["down"] == ["redis"]
    assert response["Retry-After"]


def test_ready_is_503_naming_the_broker_when_it_is_down(api_client):
    with override_settings(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:1//"):
        response = api_client.get("/health/ready/")

    assert assert_problem(response, 503)["down"] == ["broker"]
