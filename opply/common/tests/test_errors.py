import logging

import pytest
from django.test import Client

from opply.common.testing import assert_problem

pytestmark = pytest.mark.django_db


def test_unknown_path_is_a_json_404(api_client):
    body = assert_problem(api_client.get("/no/such/page/"), 404, "not_found")

    assert body["type"] == "urn:opply:problem:not_found"
    assert body["title"] == "Not Found"


def test_wrong_method_on_an_api_is_a_json_405(api_client):
    assert_problem(api_client.get("/api/identity/register/"), 405, "method_not_allowed")


def test_wrong_method_on_health_is_a_json_405(api_client):
    assert_problem(api_client.post("/health/live/"), 405, "method_not_allowed")


def test_unsupported_media_type_is_a_json_415(api_client):
    response = api_client.post("/api/identity/register/", data="a=b", content_type="application/x-www-form-urlencoded")

    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.urls("opply.common.tests.urls_failing")
def test_an_unexpected_exception_is_a_json_500_without_a_stack_trace():
    client = Client(raise_request_exception=False)

    response = client.get("/crash/")

    body = assert_problem(response, 500, "server_error")
    assert "boom" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert body["request_id"] == response["X-Request-ID"]


def test_every_response_has_a_request_id_and_an_incoming_one_is_kept(api_client):
    generated = api_client.get("/health/live/")
    assert len(generated["X-Request-ID"]) >= 16

    kept = api_client.get("/health/live/", HTTP_X_REQUEST_ID="abc-123-from-the-load-balancer")
    assert kept["X-Request-ID"] == "abc-123-from-the-load-balancer"


@pytest.mark.urls("opply.common.tests.urls_failing")
def test_log_lines_of_a_request_carry_its_request_id():
    from django_guid.log_filters import CorrelationId

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    handler.addFilter(CorrelationId())
    logging.getLogger("opply.test").addHandler(handler)
    try:
        response = Client(raise_request_exception=False).get("/crash/", HTTP_X_REQUEST_ID="trace-me-42")
    finally:
        logging.getLogger("opply.test").removeHandler(handler)

    assert response["X-Request-ID"] == "trace-me-42"
    assert [r.correlation_id for r in records if r.getMessage() == "about to crash"] == ["trace-me-42"]


def test_docs_and_schema_are_served(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/identity/register/" in schema.json()["paths"]
    assert api_client.get("/api/docs/").status_code == 200
