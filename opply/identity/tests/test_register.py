import pytest

from opply.common.testing import assert_problem
from opply.identity.models import User

pytestmark = pytest.mark.django_db

URL = "/api/identity/register/"


def payload(**overrides):
    data = {
        "username": "ada",
        "email": "ada@example.com",
        "password": "an-uncommon-passphrase-42",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company_name": "Analytical Engines Ltd",
    }
    data.update(overrides)
    return data


def test_register_creates_a_customer_without_exposing_the_password(api_client):
    response = api_client.post(URL, payload(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "ada"
    assert body["company_name"] == "Analytical Engines Ltd"
    assert "password" not in body
    user = User.objects.get(username="ada")
    assert body["id"] == str(user.public_id)
    assert user.check_password("an-uncommon-passphrase-42")
    assert not user.is_staff


def test_registered_customer_can_log_in(api_client):
    api_client.post(URL, payload(), format="json")

    response = api_client.post("/api/identity/token/", {"username": "ada", "password": "an-uncommon-passphrase-42"}, format="json")

    assert response.status_code == 200
    assert {"access", "refresh"} <= response.json().keys()


@pytest.mark.parametrize(
    "password",
    ["short1", "password123", "12345678901", "ada-lovelace"],
    ids=["too-short", "common", "numeric", "similar-to-name"],
)
def test_weak_passwords_are_refused(api_client, password):
    response = api_client.post(URL, payload(password=password, username="ada-lovelace"), format="json")

    body = assert_problem(response, 400, "validation_error")
    assert "password" in body["errors"]
    assert not User.objects.exists()


@pytest.mark.parametrize("field,value", [("username", "ADA"), ("email", "ADA@example.com")])
def test_taken_username_or_email_is_refused_case_insensitively(api_client, customer, field, value):
    customer.username, customer.email = "ada", "ada@example.com"
    customer.save()

    response = api_client.post(URL, payload(**{field: value, "username": value if field == "username" else "other"}), format="json")

    body = assert_problem(response, 400, "validation_error")
    assert field in body["errors"]
    assert User.objects.count() == 1


@pytest.mark.parametrize("missing", ["username", "email", "password"])
def test_required_fields(api_client, missing):
    data = payload()
    del data[missing]

    body = assert_problem(api_client.post(URL, data, format="json"), 400, "validation_error")
    assert missing in body["errors"]


def test_unknown_fields_are_refused(api_client):
    body = assert_problem(api_client.post(URL, payload(is_staff=True), format="json"), 400, "validation_error")

    assert "is_staff" in body["errors"]
    assert not User.objects.exists()


def test_malformed_json_is_a_400(api_client):
    response = api_client.post(URL, data="{not json", content_type="application/json")

    assert_problem(response, 400, "parse_error")


def test_invalid_email_is_refused(api_client):
    body = assert_problem(api_client.post(URL, payload(email="not-an-email"), format="json"), 400)
    assert "email" in body["errors"]
