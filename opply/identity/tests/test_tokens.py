import pytest
from rest_framework.test import APIClient

from opply.common.testing import assert_problem, run_concurrently
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/identity/token/"
REFRESH = "/api/identity/token/refresh/"
REVOKE = "/api/identity/token/revoke/"


def login(client, user, password):
    response = client.post(TOKEN, {"username": user.username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_token_pair_is_issued_and_the_access_token_authenticates(api_client, customer, password):
    tokens = login(api_client, customer, password)

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api_client.get("/api/identity/customers/me/")

    assert me.status_code == 200
    assert me.json()["id"] == str(customer.public_id)


@pytest.mark.parametrize("username,pw", [("customer-x", "wrong"), ("nobody", "whatever-123")])
def test_wrong_credentials_are_401(api_client, customer, username, pw):
    username = customer.username if username == "customer-x" else username

    assert_problem(api_client.post(TOKEN, {"username": username, "password": pw}, format="json"), 401)


def test_missing_credentials_are_400(api_client):
    body = assert_problem(api_client.post(TOKEN, {}, format="json"), 400, "validation_error")

    assert {"username", "password"} <= body["errors"].keys()


def test_garbage_bearer_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    assert_problem(api_client.get("/api/identity/customers/me/"), 401)


def test_refresh_rotates_and_the_old_refresh_token_stops_working(api_client, customer, password):
    tokens = login(api_client, customer, password)

    first = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200
    rotated = first.json()
    assert {"access", "refresh"} <= rotated.keys()
    assert rotated["refresh"] != tokens["refresh"]

    assert_problem(api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401)
    assert api_client.post(REFRESH, {"refresh": rotated["refresh"]}, format="json").status_code == 200


def test_refresh_with_garbage_is_401_and_without_a_token_is_400(api_client):
    assert_problem(api_client.post(REFRESH, {"refresh": "garbage"}, format="json"), 401, "token_not_valid")
    assert_problem(api_client.post(REFRESH, {}, format="json"), 400, "validation_error")


def test_an_access_token_is_not_a_refresh_token(api_client, customer, password):
    tokens = login(api_client, customer, password)

    assert_problem(api_client.post(REFRESH, {"refresh": tokens["access"]}, format="json"), 401)


def test_revoke_blacklists_the_refresh_token(api_client, customer, password):
    tokens = login(api_client, customer, password)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    response = api_client.post(REVOKE, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    assert_problem(APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401)


def test_revoke_needs_authentication(api_client, customer, password):
    tokens = login(api_client, customer, password)

    assert_problem(APIClient().post(REVOKE, {"refresh": tokens["refresh"]}, format="json"), 401)


def test_nobody_can_revoke_someone_elses_token(api_client, customer, password):
    victim_tokens = login(api_client, customer, password)
    attacker = UserFactory()

    assert_problem(bearer_client(attacker).post(REVOKE, {"refresh": victim_tokens["refresh"]}, format="json"), 401, "token_not_valid")
    assert api_client.post(REFRESH, {"refresh": victim_tokens["refresh"]}, format="json").status_code == 200


def test_revoking_someone_elses_valid_token_is_indistinguishable_from_garbage(api_client, customer, password):
    victim_tokens = login(api_client, customer, password)
    attacker = bearer_client(UserFactory())

    answers = [attacker.post(REVOKE, {"refresh": raw}, format="json") for raw in (victim_tokens["refresh"], "garbage")]

    def shape(response):
        body = response.json()
        body.pop("request_id")
        return response.status_code, body, response.get("WWW-Authenticate")

    assert shape(answers[0]) == shape(answers[1])


def test_revoke_with_garbage_is_401(customer_client):
    assert_problem(customer_client.post(REVOKE, {"refresh": "garbage"}, format="json"), 401, "token_not_valid")


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_concurrent_refreshes_of_one_token_rotate_exactly_once(customer, password):
    tokens = login(APIClient(), customer, password)

    statuses = run_concurrently(8, lambda i: APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code)

    assert sorted(statuses) == [200] + [401] * 7


@pytest.fixture
def throttle_rates(settings):
    def set_rates(**rates):
        rest = settings.REST_FRAMEWORK
        settings.REST_FRAMEWORK = {**rest, "DEFAULT_THROTTLE_RATES": {**rest["DEFAULT_THROTTLE_RATES"], **rates}}

    return set_rates


class TestLoginThrottling:
    def test_repeated_failures_for_one_username_are_throttled_with_retry_after(self, api_client, customer, password, throttle_rates):
        throttle_rates(login_user="3/min", login_ip="1000/min")
        for _ in range(3):
            assert_problem(api_client.post(TOKEN, {"username": customer.username, "password": "wrong"}, format="json"), 401)

        # Even the right password is refused now: that is the point of the lock.
        response = api_client.post(TOKEN, {"username": customer.username.upper(), "password": password}, format="json")
        body = assert_problem(response, 429, "throttled")
        assert 1 <= int(response["Retry-After"]) <= 61
        assert body["retry_after"] == int(response["Retry-After"])

        # Another account from the same address is not affected.
        other = UserFactory(password=password)
        assert api_client.post(TOKEN, {"username": other.username, "password": password}, format="json").status_code == 200

    def test_one_address_trying_many_usernames_is_throttled(self, api_client, throttle_rates):
        throttle_rates(login_user="1000/min", login_ip="4/min")
        for n in range(4):
            assert_problem(api_client.post(TOKEN, {"username": f"guess{n}", "password": "x"}, format="json"), 401)

        assert_problem(api_client.post(TOKEN, {"username": "guess-last", "password": "x"}, format="json"), 429, "throttled")

    def test_default_rate_for_one_username_is_at_most_ten_a_minute(self, api_client, customer):
        statuses = [
            api_client.post(TOKEN, {"username": customer.username, "password": "wrong"}, format="json").status_code for _ in range(11)
        ]

        assert 429 in statuses
        assert statuses.index(429) <= 10


def test_a_token_verified_before_is_refused_once_it_expires(customer):
    """Each process remembers the tokens it verified (their signature is not
    checked again), but never past their expiry."""
    import time
    from datetime import timedelta

    from opply.identity.tokens import IssuedRefreshToken

    access = IssuedRefreshToken.for_user(customer).access_token
    access.set_exp(lifetime=timedelta(seconds=2))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/api/identity/customers/me/").status_code == 200
    assert client.get("/api/identity/customers/me/").status_code == 200  # the remembered verdict

    time.sleep(max(access["exp"] - time.time(), 0) + 0.1)

    assert_problem(client.get("/api/identity/customers/me/"), 401, "token_not_valid")


def test_a_token_that_differs_from_a_verified_one_is_verified_afresh(customer):
    from opply.identity.tokens import IssuedRefreshToken

    access = str(IssuedRefreshToken.for_user(customer).access_token)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/api/identity/customers/me/").status_code == 200
    header, payload, signature = access.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert_problem(client.get("/api/identity/customers/me/"), 401, "token_not_valid")
