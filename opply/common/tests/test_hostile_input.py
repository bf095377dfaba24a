"""Hostile input never reaches a 500: deep JSON, odd token claims, oversize bodies."""

import json

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from opply.common.testing import assert_problem
from opply.identity.testing import bearer_client
from opply.identity.tokens import IssuedRefreshToken

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
MODERATELY_DEEP = json.dumps({"items": [{"product_id": json.loads("[" * 200 + "]" * 200)}]})

ANONYMOUS_JSON_ENDPOINTS = ["/api/identity/register/", "/api/identity/token/", "/api/identity/token/refresh/"]
CUSTOMER_JSON_ENDPOINTS = ["/api/orders/orders/", "/api/orders/cart/items/", "/api/identity/token/revoke/", "/api/orders/cart/checkout/"]


@pytest.mark.parametrize("url", ANONYMOUS_JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [DEEP, MODERATELY_DEEP], ids=["5000-deep", "200-deep"])
def test_deeply_nested_json_is_a_400_on_anonymous_endpoints(url, body):
    body = assert_problem(APIClient().post(url, data=body, content_type="application/json"), 400, "parse_error")
    assert "nested" in body["detail"]


@pytest.mark.parametrize("url", CUSTOMER_JSON_ENDPOINTS)
def test_deeply_nested_json_is_a_400_on_authenticated_endpoints(customer_client, url):
    assert_problem(customer_client.post(url, data=DEEP, content_type="application/json"), 400, "parse_error")


def test_deep_json_on_a_staff_patch_is_a_400(staff_client):
    response = staff_client.patch("/api/identity/customers/me/", data=DEEP, content_type="application/json")
    assert_problem(response, 400, "parse_error")


def test_nesting_within_the_limit_is_parsed(customer_client):
    # Thirty levels are parsed (then refused by the serializer, as a plain 400).
    body = json.dumps({"items": json.loads("[" * 30 + "]" * 30)})
    assert_problem(customer_client.post("/api/orders/orders/", data=body, content_type="application/json"), 400, "validation_error")


def _signed_access(user, **claims) -> str:
    token = IssuedRefreshToken.for_user(user).access_token
    for name, value in claims.items():
        token[name] = value
    return str(token)


@pytest.mark.parametrize(
    "claims",
    [{"sub": "not-a-uuid"}, {"sub": 42}, {"sub": ["x"]}, {"auth_time": "yesterday"}, {"is_staff": "yes"}, {"jti": {"a": 1}}],
    ids=["sub-text", "sub-int", "sub-list", "auth-time-text", "is-staff-text", "jti-object"],
)
@pytest.mark.parametrize("url", ["/api/identity/customers/me/", "/api/orders/orders/", "/api/catalog/products/"])
def test_a_signed_access_token_with_odd_claims_is_a_401(customer, claims, url):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_signed_access(customer, **claims)}")

    assert_problem(client.get(url), 401)


def test_a_signed_token_without_a_subject_is_a_401(customer):
    token = AccessToken.for_user(customer)
    del token["sub"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_problem(client.get("/api/identity/customers/me/"), 401)


@pytest.mark.parametrize("sub", ["not-a-uuid", 42])
def test_a_signed_refresh_token_with_a_non_uuid_subject_is_refused(customer, customer_client, sub):
    refresh = IssuedRefreshToken.for_user(customer)
    refresh["sub"] = sub

    assert_problem(APIClient().post("/api/identity/token/refresh/", {"refresh": str(refresh)}, format="json"), 401, "token_not_valid")
    assert_problem(customer_client.post("/api/identity/token/revoke/", {"refresh": str(refresh)}, format="json"), 401, "token_not_valid")


@pytest.mark.parametrize(
    "url,field",
    [
        ("/api/identity/token/", "username"),
        ("/api/identity/token/", "password"),
        ("/api/identity/token/refresh/", "refresh"),
        ("/api/identity/register/", "password"),
        ("/api/identity/register/", "company_name"),
    ],
)
def test_long_text_is_a_400_naming_the_field(url, field):
    body = {"username": "ada", "password": "an-uncommon-passphrase-42", "email": "ada@example.com", field: "x" * 5000}
    if url == "/api/identity/token/refresh/":
        body = {field: "x" * 5000}
    if url == "/api/identity/token/":
        body = {"username": "ada", "password": "whatever-it-is", field: "x" * 5000}

    errors = assert_problem(APIClient().post(url, body, format="json"), 400, "validation_error")["errors"]
    assert field in errors


def test_an_oversize_body_is_a_413_problem(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"username": "x" * 5000})

    response = APIClient().post("/api/identity/register/", data=body, content_type="application/json")

    assert_problem(response, 413, "request_too_large")


def test_customer_with_a_token_for_a_deleted_account_gets_401_not_500(customer):
    client = bearer_client(customer)
    customer.delete()

    assert_problem(client.get("/api/identity/customers/me/"), 401)
