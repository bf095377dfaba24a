"""The admin login is no way around the API's login throttles: one budget for both."""

import pytest
from django.test import Client

from opply.common.testing import assert_problem

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
TOKEN = "/api/identity/token/"


@pytest.fixture
def throttle_rates(settings):
    def set_rates(**rates):
        rest = settings.REST_FRAMEWORK
        settings.REST_FRAMEWORK = {**rest, "DEFAULT_THROTTLE_RATES": {**rest["DEFAULT_THROTTLE_RATES"], **rates}}

    return set_rates


def admin_login(client, username, password):
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"})


def test_password_guessing_on_one_account_in_the_admin_is_throttled(staff, password, throttle_rates):
    throttle_rates(login_user="3/min", login_ip="1000/min")
    client = Client()
    for _ in range(3):
        assert admin_login(client, staff.username, "wrong").status_code == 200  # the form again

    response = admin_login(client, staff.username, password)

    body = assert_problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 61
    assert body["retry_after"] == int(response["Retry-After"])
    assert "_auth_user_id" not in client.session


def test_one_address_guessing_many_usernames_in_the_admin_is_throttled(throttle_rates):
    throttle_rates(login_user="1000/min", login_ip="4/min")
    client = Client()
    for n in range(4):
        assert admin_login(client, f"guess{n}", "x").status_code == 200

    assert_problem(admin_login(client, "guess-last", "x"), 429, "throttled")


def test_the_api_and_the_admin_share_one_budget_per_username(api_client, staff, password, throttle_rates):
    throttle_rates(login_user="3/min", login_ip="1000/min")
    for _ in range(3):
        assert_problem(api_client.post(TOKEN, {"username": staff.username, "password": "wrong"}, format="json"), 401)

    assert_problem(admin_login(Client(), staff.username.upper(), password), 429, "throttled")


def test_look_alike_spellings_of_a_username_share_its_budget(api_client, throttle_rates):
    throttle_rates(login_user="2/min", login_ip="1000/min")
    assert admin_login(Client(), "opply", "x").status_code == 200
    assert_problem(api_client.post(TOKEN, {"username": "OPPLY", "password": "x"}, format="json"), 401)

    response = api_client.post(TOKEN, {"username": "\uff4f\uff50\uff50\uff4c\uff59", "password": "x"}, format="json")
    assert_problem(response, 429, "throttled")


def test_the_default_admin_budget_is_ten_attempts_a_minute(staff):
    client = Client()
    statuses = [admin_login(client, staff.username, "wrong").status_code for _ in range(11)]

    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429


def test_a_good_admin_login_within_the_budget_works(staff, password):
    staff.is_superuser = True
    staff.save()
    client = Client()

    response = admin_login(client, staff.username, password)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
