"""Usernames cannot impersonate anyone: one unambiguous ASCII form, compared case-insensitively."""

import pytest
from django.test import Client

from opply.common.testing import assert_problem
from opply.identity.models import User
from opply.identity.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/identity/register/"

IMPERSONATIONS = {
    "zero-width space": "opply\u200b",
    "zero-width joiner": "op\u200dply",
    "full-width": "\uff4f\uff50\uff50\uff4c\uff59",
    "cyrillic o": "\u043epply",
    "greek omicron": "\u03bfpply",
    "right-to-left override": "\u202eylppo",
    "inner space": "op ply",
    "tab": "opply\t2",
    "markup": "<script>",
    "upper case": "OPPLY",
    "combining accent": "opply\u0301",
    "mathematical bold": "\U0001d428pply",
}


@pytest.fixture
def opply_staff():
    return UserFactory(username="opply", is_staff=True)


def register(client, username):
    body = {"username": username, "email": f"{abs(hash(username))}@example.com", "password": "an-uncommon-passphrase-42"}
    return client.post(REGISTER, body, format="json")


@pytest.mark.parametrize("username", IMPERSONATIONS.values(), ids=IMPERSONATIONS.keys())
def test_look_alikes_of_a_staff_username_are_refused_at_registration(api_client, opply_staff, username):
    body = assert_problem(register(api_client, username), 400, "validation_error")

    assert "username" in body["errors"]
    assert User.objects.count() == 1


@pytest.mark.parametrize("username", ["ada", "ada.lovelace", "ada+shop@example.com", "Ada_L-42"])
def test_plain_usernames_are_accepted(api_client, username):
    assert register(api_client, username).status_code == 201


def test_the_full_width_form_is_normalised_and_found_taken(api_client, opply_staff):
    body = assert_problem(register(api_client, "\uff4f\uff50\uff50\uff4c\uff59"), 400)

    assert body["errors"]["username"] == ["A user with that username already exists."]


@pytest.mark.parametrize("username", ["opply\u200b", "\u043epply", "OPPLY"])
def test_staff_cannot_rename_a_customer_to_a_look_alike(staff_client, opply_staff, customer, username):
    response = staff_client.patch(f"/api/identity/customers/{customer.public_id}/", {"username": username}, format="json")

    assert "username" in assert_problem(response, 400)["errors"]
    customer.refresh_from_db()
    assert customer.username != username


def test_staff_create_refuses_look_alikes(staff_client, opply_staff):
    body = {"username": "opp\u0406y", "email": "x@example.com", "password": "an-uncommon-passphrase-42"}

    assert "username" in assert_problem(staff_client.post("/api/identity/customers/", body, format="json"), 400)["errors"]


def test_login_matches_usernames_case_insensitively(api_client, customer, password):
    response = api_client.post("/api/identity/token/", {"username": customer.username.upper(), "password": password}, format="json")

    assert response.status_code == 200


@pytest.mark.parametrize("username", ["opply\u200b", "\uff4f\uff50\uff50\uff4c\uff59", "\u043epply"])
def test_the_admin_refuses_look_alikes_too(opply_staff, username):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    response = client.post(
        "/admin/identity/user/add/",
        {"username": username, "password1": "an-uncommon-passphrase-42", "password2": "an-uncommon-passphrase-42"},
    )

    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors["username"]
    assert User.objects.filter(is_superuser=False, is_staff=True).count() == 1
