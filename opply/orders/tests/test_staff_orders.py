"""Staff order management: every order, filters, one order; customers are refused."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from opply.catalog.tests.factories import make_product
from opply.common.testing import assert_problem
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory
from opply.orders.models import Order
from opply.orders.tests.helpers import order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

STAFF = "/api/orders/staff/orders/"


@pytest.fixture
def world():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    oat, bean = make_product(quantity=50), make_product(quantity=50)
    ids = {
        "a1": order(bearer_client(alice), (oat, 1)).json()["id"],
        "b1": order(bearer_client(bob), (bean, 1)).json()["id"],
        "a2": order(bearer_client(alice), (oat, 1), (bean, 2)).json()["id"],
    }
    return {"alice": alice, "bob": bob, "oat": oat, "bean": bean, "ids": ids}


def _ids(response):
    assert response.status_code == 200, response.content
    return [o["id"] for o in response.json()["results"]]


def test_staff_list_every_order_newest_first_naming_the_customer(staff_client, world):
    body = staff_client.get(STAFF).json()

    ids = world["ids"]
    assert body["count"] == 3
    assert [o["id"] for o in body["results"]] == [ids["a2"], ids["b1"], ids["a1"]]
    assert body["results"][0]["customer"] == {"id": str(world["alice"].public_id), "username": "alice"}
    assert body["results"][0]["total"] and body["results"][0]["items"]


def test_filters(staff_client, world):
    ids = world["ids"]
    staff_client.post(f"{STAFF}{ids['b1']}/ship/")

    assert _ids(staff_client.get(STAFF, {"status": "shipped"})) == [ids["b1"]]
    assert _ids(staff_client.get(STAFF, {"status": "confirmed"})) == [ids["a2"], ids["a1"]]
    assert _ids(staff_client.get(STAFF, {"customer": str(world["alice"].public_id)})) == [ids["a2"], ids["a1"]]
    assert _ids(staff_client.get(STAFF, {"product": str(world["bean"].public_id)})) == [ids["a2"], ids["b1"]]
    assert _ids(staff_client.get(STAFF, {"product": str(world["oat"].public_id), "customer": str(world["bob"].public_id)})) == []
    assert _ids(staff_client.get(STAFF, {"customer": str(uuid.uuid4())})) == []


def test_date_range(staff_client, world):
    ids = world["ids"]
    Order.objects.filter(public_id=ids["a1"]).update(created_at=timezone.now() - timedelta(days=10))
    Order.objects.filter(public_id=ids["b1"]).update(created_at=timezone.now() - timedelta(days=5))
    four_days_ago = (timezone.now() - timedelta(days=4)).isoformat()
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()

    assert _ids(staff_client.get(STAFF, {"created_after": four_days_ago})) == [ids["a2"]]
    assert _ids(staff_client.get(STAFF, {"created_before": four_days_ago})) == [ids["b1"], ids["a1"]]
    assert _ids(staff_client.get(STAFF, {"created_after": week_ago, "created_before": four_days_ago})) == [ids["b1"]]


@pytest.mark.parametrize(
    ("name", "value"),
    [("status", "lost"), ("customer", "not-a-uuid"), ("product", "42"), ("created_after", "yesterday"), ("created_before", "2026-13-01")],
)
def test_a_bad_filter_is_a_400_naming_it(staff_client, world, name, value):
    problem = assert_problem(staff_client.get(STAFF, {name: value}), 400)

    assert name in problem["errors"]


def test_one_order(staff_client, world):
    response = staff_client.get(f"{STAFF}{world['ids']['b1']}/")

    assert response.status_code == 200
    assert response.json()["customer"]["username"] == "bob"
    assert staff_client.get(f"{STAFF}{uuid.uuid4()}/").status_code == 404
    assert staff_client.post(f"{STAFF}{uuid.uuid4()}/ship/").status_code == 404
    assert staff_client.post(f"{STAFF}{uuid.uuid4()}/cancel/").status_code == 404


def test_customers_get_403_and_change_nothing(customer_client, world, api_client):
    some = world["ids"]["a1"]
    for method, url in (("get", STAFF), ("get", f"{STAFF}{some}/"), ("post", f"{STAFF}{some}/ship/"), ("post", f"{STAFF}{some}/cancel/")):
        assert_problem(getattr(customer_client, method)(url), 403)
        assert getattr(api_client, method)(url).status_code == 401
    # the order's own customer is refused as well
    assert_problem(bearer_client(world["alice"]).post(f"{STAFF}{some}/cancel/"), 403)
    assert Order.objects.get(public_id=some).status == "confirmed"


def test_the_list_costs_a_constant_number_of_queries(staff_client, world, django_assert_num_queries):
    # the count, the page, its lines, the customers' names
    with django_assert_num_queries(4):
        assert staff_client.get(STAFF).status_code == 200
