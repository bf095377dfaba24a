import uuid

import pytest

from opply.catalog.models import StockMovement
from opply.catalog.tests.factories import make_product
from opply.common.testing import assert_problem
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory
from opply.orders.tests.helpers import ORDERS, assert_inventory_consistent, available, on_hand, order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def test_history_is_the_callers_own_orders_newest_first_paginated(customer_client):
    product = make_product(quantity=100)
    placed = [order(customer_client, (product, n)).json()["id"] for n in range(1, 4)]
    order(bearer_client(UserFactory()), (product, 1))  # someone else's

    response = customer_client.get(ORDERS)

    body = response.json()
    assert body["count"] == 3
    assert [o["id"] for o in body["results"]] == placed[::-1]
    assert body["results"][0]["items"][0]["quantity"] == 3
    assert [o["id"] for o in customer_client.get(ORDERS, {"page_size": 2, "page": 2}).json()["results"]] == [placed[0]]


def test_history_costs_a_constant_number_of_queries(customer_client, django_assert_num_queries):
    products = [make_product(quantity=100) for _ in range(3)]
    for _ in range(6):
        order(customer_client, *[(p, 1) for p in products])

    # the count, the page of orders, their lines
    with django_assert_num_queries(3):
        response = customer_client.get(ORDERS, {"page_size": 5})
    assert len(response.json()["results"]) == 5
    assert all(len(o["items"]) == 3 for o in response.json()["results"])


def test_detail(customer_client):
    product = make_product(quantity=5)
    placed = order(customer_client, (product, 2)).json()

    assert customer_client.get(f"{ORDERS}{placed['id']}/").json() == placed


def test_someone_elses_order_is_404_on_every_verb(customer_client):
    product = make_product(quantity=5)
    placed = order(customer_client, (product, 2)).json()
    stranger = bearer_client(UserFactory())

    assert_problem(stranger.get(f"{ORDERS}{placed['id']}/"), 404)
    assert_problem(stranger.post(f"{ORDERS}{placed['id']}/cancel/"), 404)
    assert stranger.get(ORDERS).json()["count"] == 0
    assert customer_client.get(f"{ORDERS}{placed['id']}/").json()["status"] == "confirmed"
    assert on_hand(product) == 3


@pytest.mark.parametrize("suffix", [f"{uuid.uuid4()}/", "nope/", f"{uuid.uuid4()}/cancel/"])
def test_unknown_orders_are_404(customer_client, suffix):
    response = customer_client.post(f"{ORDERS}{suffix}") if suffix.endswith("cancel/") else customer_client.get(f"{ORDERS}{suffix}")
    assert_problem(response, 404)


def test_cancel_returns_the_stock_and_a_second_cancel_is_409(customer_client):
    product = make_product(quantity=5)
    placed = order(customer_client, (product, 2)).json()
    assert (on_hand(product), available(product)) == (3, 3)

    cancelled = customer_client.post(f"{ORDERS}{placed['id']}/cancel/")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert (on_hand(product), available(product)) == (5, 5)
    assert list(StockMovement.objects.filter(reason="cancel").values_list("delta", "reference")) == [(2, placed["id"])]
    body = assert_problem(customer_client.post(f"{ORDERS}{placed['id']}/cancel/"), 409, "order_not_cancellable")
    assert body["order_status"] == "cancelled"
    assert on_hand(product) == 5
    assert_inventory_consistent(product)


def test_cancelling_brings_a_sold_out_product_back_to_the_list(customer_client):
    product = make_product(quantity=1)
    placed = order(customer_client, (product, 1)).json()
    assert customer_client.get("/api/catalog/products/").json()["count"] == 0

    customer_client.post(f"{ORDERS}{placed['id']}/cancel/")

    assert customer_client.get("/api/catalog/products/").json()["count"] == 1


def test_anonymous_gets_401(api_client):
    assert_problem(api_client.get(ORDERS), 401)
