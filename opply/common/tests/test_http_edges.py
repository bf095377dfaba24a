"""The edges of HTTP answer problem+json with the right status, like the rest of the API."""

import logging

import pytest
from django.test import Client

from opply.common.testing import assert_problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/health/live/", "/health/ready/"])
def test_writing_to_a_health_probe_is_a_405_not_a_csrf_403(method, path):
    # A real browser-like client: Django's test client enforces CSRF only when asked.
    response = getattr(Client(enforce_csrf_checks=True), method)(path)

    assert_problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_without_the_trailing_slash_is_a_308_problem_naming_the_address(customer_client, method):
    response = getattr(customer_client, method)("/api/orders/orders?x=1", {"items": []}, format="json")

    body = assert_problem(response, 308, "trailing_slash_required")
    assert response["Location"] == "/api/orders/orders/?x=1"
    assert body["location"] == "/api/orders/orders/?x=1"


def test_a_read_without_the_trailing_slash_still_redirects(customer_client):
    response = customer_client.get("/api/orders/orders")

    assert response.status_code == 301
    assert response["Location"] == "/api/orders/orders/"


def test_an_unknown_host_is_a_clear_400_and_is_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="django.security.DisallowedHost"):
        response = Client().get("/health/live/", HTTP_HOST="10.0.2.2:8000")

    body = assert_problem(response, 400, "disallowed_host")
    assert "10.0.2.2:8000" in body["detail"]
    assert "DJANGO_ALLOWED_HOSTS" in body["detail"]
    assert any("10.0.2.2:8000" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "incoming,kept",
    [
        ("abc-123_from.the-load-balancer", True),
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("a b", False),
        ("<script>alert(1)</script>", False),
        ("line\\nbreak", False),
        ("caf\u00e9", False),
        ("", False),
    ],
)
def test_a_client_request_id_is_kept_only_if_short_and_safe(api_client, incoming, kept):
    response = api_client.get("/no/such/page/", HTTP_X_REQUEST_ID=incoming)

    assert (response["X-Request-ID"] == incoming) is kept
    assert response.json()["request_id"] == response["X-Request-ID"]
    assert 1 <= len(response["X-Request-ID"]) <= 64


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("get", "/api/identity/customers/me/", None),
        ("get", "/api/orders/orders/", None),
        ("get", "/api/orders/cart/", None),
        ("get", "/api/catalog/products/", None),
        ("post", "/api/orders/orders/", {"items": []}),
    ],
)
def test_personal_responses_are_never_stored(customer_client, method, path, body):
    response = getattr(customer_client, method)(path, body, format="json")

    assert response["Cache-Control"] == "no-store"


def test_tokens_and_registration_are_never_stored(api_client, customer, password, staff_client):
    tokens = api_client.post("/api/identity/token/", {"username": customer.username, "password": password}, format="json")
    refreshed = api_client.post("/api/identity/token/refresh/", {"refresh": tokens.json()["refresh"]}, format="json")
    registered = api_client.post(
        "/api/identity/register/",
        {"username": "ada", "email": "ada@example.com", "password": "an-uncommon-passphrase-42"},
        format="json",
    )
    customers = staff_client.get("/api/identity/customers/")

    for response in (tokens, refreshed, registered, customers):
        assert response["Cache-Control"] == "no-store", response.request["PATH_INFO"]
