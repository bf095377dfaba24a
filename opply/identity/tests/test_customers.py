import uuid

import pytest
from rest_framework.test import APIClient

from opply.common.testing import assert_problem
from opply.identity.models import User
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/identity/customers/"
ME = "/api/identity/customers/me/"


def detail(user):
    return f"{LIST}{user.public_id}/"


def test_staff_list_customers_only_paginated(staff_client, staff):
    customers = UserFactory.create_batch(3)

    response = staff_client.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert {c["id"] for c in body["results"]} == {str(c.public_id) for c in customers}
    assert str(staff.public_id) not in {c["id"] for c in body["results"]}
    assert all("password" not in c for c in body["results"])


def test_staff_create_a_customer(staff_client):
    response = staff_client.post(LIST, {"username": "bob", "email": "bob@example.com", "password": "a-long-passphrase-99"}, format="json")

    assert response.status_code == 201
    assert User.objects.get(username="bob").check_password("a-long-passphrase-99")


def test_staff_create_validates_like_registration(staff_client, customer):
    body = assert_problem(
        staff_client.post(LIST, {"username": customer.username, "email": "x@example.com", "password": "123"}, format="json"), 400
    )

    assert {"username", "password"} <= body["errors"].keys()


def test_staff_retrieve_put_patch(staff_client, customer):
    assert staff_client.get(detail(customer)).json()["username"] == customer.username

    put = staff_client.put(
        detail(customer),
        {
            "username": customer.username,
            "email": "new@example.com",
            "first_name": "N",
            "last_name": "M",
            "company_name": "Acme",
            "is_active": True,
        },
        format="json",
    )
    assert put.status_code == 200, put.content
    assert put.json()["email"] == "new@example.com"

    patch = staff_client.patch(detail(customer), {"company_name": "Acme 2"}, format="json")
    assert patch.status_code == 200
    customer.refresh_from_db()
    assert (customer.email, customer.company_name) == ("new@example.com", "Acme 2")


def test_staff_cannot_take_an_email_already_used(staff_client, customer):
    other = UserFactory()

    body = assert_problem(staff_client.patch(detail(customer), {"email": other.email.upper()}, format="json"), 400)
    assert "email" in body["errors"]


@pytest.mark.django_db(transaction=True)  # access tokens are revoked after commit
def test_delete_deactivates_and_the_customer_can_no_longer_log_in_refresh_or_call(staff_client, customer, password):
    tokens = APIClient().post("/api/identity/token/", {"username": customer.username, "password": password}, format="json").json()

    response = staff_client.delete(detail(customer))

    assert response.status_code == 204
    customer.refresh_from_db()
    assert customer.is_active is False
    assert User.objects.filter(pk=customer.pk).exists()  # kept: orders refer to it
    assert_problem(APIClient().post("/api/identity/token/", {"username": customer.username, "password": password}, format="json"), 401)
    assert_problem(APIClient().post("/api/identity/token/refresh/", {"refresh": tokens["refresh"]}, format="json"), 401)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert_problem(client.get(ME), 401)


def test_staff_can_reactivate(staff_client, customer):
    staff_client.delete(detail(customer))

    assert staff_client.patch(detail(customer), {"is_active": True}, format="json").json()["is_active"] is True


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_customers_get_403_on_staff_endpoints(customer_client, customer, method):
    url = LIST if method in ("get", "post") else detail(UserFactory())
    assert_problem(getattr(customer_client, method)(url, {}, format="json"), 403, "permission_denied")


@pytest.mark.parametrize("url", [LIST, ME])
def test_anonymous_gets_401(api_client, url):
    assert_problem(api_client.get(url), 401, "not_authenticated")


def test_unknown_and_malformed_ids_are_404(staff_client, staff):
    assert_problem(staff_client.get(f"{LIST}{uuid.uuid4()}/"), 404, "not_found")
    assert_problem(staff_client.get(f"{LIST}12/"), 404, "not_found")
    # Staff accounts are not customers and cannot be edited through this API.
    assert_problem(staff_client.get(detail(staff)), 404, "not_found")


def test_me_get_and_patch(customer_client, customer):
    assert customer_client.get(ME).json()["username"] == customer.username

    response = customer_client.patch(ME, {"company_name": "Oat Co", "first_name": "Olga"}, format="json")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.company_name, customer.first_name) == ("Oat Co", "Olga")


def test_me_cannot_change_status_or_username(customer_client, customer):
    customer_client.patch(ME, {"is_active": False, "username": "hijack"}, format="json")

    customer.refresh_from_db()
    assert customer.is_active is True
    assert customer.username != "hijack"


def test_me_rejects_unknown_fields_and_taken_email(customer_client, customer):
    other = UserFactory()

    assert "is_staff" in assert_problem(customer_client.patch(ME, {"is_staff": True}, format="json"), 400)["errors"]
    assert "email" in assert_problem(customer_client.patch(ME, {"email": other.email}, format="json"), 400)["errors"]
    customer.refresh_from_db()
    assert customer.is_staff is False


def test_me_put_is_not_allowed(customer_client):
    assert_problem(customer_client.put(ME, {}, format="json"), 405, "method_not_allowed")


def test_staff_me_works_too(staff):
    assert bearer_client(staff).get(ME).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_an_access_token_stops_working_at_once_when_staff_status_changes(customer, staff_client):
    promoted = UserFactory(is_staff=True)
    client = bearer_client(promoted)
    assert client.get(LIST).status_code == 200

    promoted.is_staff = False
    promoted.save()

    assert_problem(client.get(LIST), 401, "token_revoked")
    assert bearer_client(promoted).get(LIST).status_code == 403  # a new token carries the new status


@pytest.mark.django_db(transaction=True)
def test_a_password_change_ends_every_session(customer, password):
    tokens = APIClient().post("/api/identity/token/", {"username": customer.username, "password": password}, format="json").json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get(ME).status_code == 200

    customer.set_password("another-long-passphrase-7")
    customer.save()

    assert_problem(client.get(ME), 401, "token_revoked")
    assert_problem(APIClient().post("/api/identity/token/refresh/", {"refresh": tokens["refresh"]}, format="json"), 401)
    assert (
        APIClient()
        .post("/api/identity/token/", {"username": customer.username, "password": "another-long-passphrase-7"}, format="json")
        .status_code
        == 200
    )


@pytest.mark.django_db(transaction=True)
def test_authentication_falls_back_to_the_database_when_redis_is_down(customer, redis_down):
    client = bearer_client(customer)
    assert client.get(ME).status_code == 200
    customer.is_active = False
    customer.save()
    assert_problem(client.get(ME), 401)
