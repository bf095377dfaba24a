import uuid
from decimal import Decimal

import pytest
from django.db.models import F

from opply.catalog.models import Stock, StockMovement
from opply.catalog.tests.factories import make_product
from opply.common.testing import assert_problem
from opply.orders.models import Order, OrderLine
from opply.orders.tests.helpers import ORDERS, assert_inventory_consistent, available, live_holds, on_hand, order

# Orders commit in a durable transaction and touch Redis after commit.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def test_an_order_is_confirmed_and_stock_goes_down_everywhere(customer_client, customer):
    oat = make_product(name="Oat milk 1L", price="2.40", quantity=10)
    beans = make_product(name="Beans", price="18.50", quantity=3)

    response = order(customer_client, (oat, 3), (beans, 1))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["total"] == "25.70"
    assert body["items"] == [
        {"product_id": str(oat.public_id), "product_name": "Oat milk 1L", "unit_price": "2.40", "quantity": 3, "line_total": "7.20"},
        {"product_id": str(beans.public_id), "product_name": "Beans", "unit_price": "18.50", "quantity": 1, "line_total": "18.50"},
    ]
    created = Order.objects.get(public_id=body["id"])
    assert created.customer_id == customer.public_id
    assert (on_hand(oat), on_hand(beans)) == (7, 2)
    assert (available(oat), available(beans)) == (7, 2)
    assert list(StockMovement.objects.filter(reason="order").order_by("product_id").values_list("product_id", "delta", "reference")) == [
        (oat.id, -3, body["id"]),
        (beans.id, -1, body["id"]),
    ]
    assert_inventory_consistent(oat, beans)


def test_the_list_shows_the_new_quantity_right_after_an_order(customer_client):
    product = make_product(quantity=5)
    customer_client.get("/api/catalog/products/")

    order(customer_client, (product, 2))

    assert customer_client.get("/api/catalog/products/").json()["results"][0]["quantity_in_stock"] == 3


def test_buying_the_last_unit_takes_the_product_off_the_list(customer_client):
    product = make_product(quantity=1)
    assert customer_client.get("/api/catalog/products/").json()["count"] == 1

    assert order(customer_client, (product, 1)).status_code == 201

    assert customer_client.get("/api/catalog/products/").json()["count"] == 0
    assert customer_client.get(f"/api/catalog/products/{product.public_id}/").json()["quantity_in_stock"] == 0


def test_one_short_line_refuses_the_whole_order_with_every_short_line(customer_client):
    plenty = make_product(quantity=10)
    few = make_product(quantity=2)
    none = make_product(quantity=0)

    response = order(customer_client, (plenty, 5), (few, 3), (none, 1))

    body = assert_problem(response, 409, "insufficient_stock")
    assert sorted(body["lines"], key=lambda line: line["available"]) == [
        {"product_id": str(none.public_id), "requested": 1, "available": 0},
        {"product_id": str(few.public_id), "requested": 3, "available": 2},
    ]
    assert not Order.objects.exists()
    assert (on_hand(plenty), on_hand(few)) == (10, 2)
    assert (available(plenty), available(few)) == (10, 2)
    assert_inventory_consistent(plenty, few, none)


def test_a_single_short_line_reports_available(customer_client):
    product = make_product(quantity=2)

    body = assert_problem(order(customer_client, (product, 3)), 409, "insufficient_stock")

    assert body["available"] == 2


def test_prices_and_names_are_copied_into_the_order(customer_client, staff_client):
    product = make_product(name="Old", price="1.00", quantity=5)
    placed = order(customer_client, (product, 2)).json()

    staff_client.patch(f"/api/catalog/products/{product.public_id}/", {"name": "New", "price": "9.00"}, format="json")

    again = customer_client.get(f"{ORDERS}{placed['id']}/").json()
    assert again["items"][0]["product_name"] == "Old"
    assert again["items"][0]["unit_price"] == "1.00"
    assert again["total"] == "2.00"


def test_clients_cannot_send_prices_or_totals(customer_client):
    product = make_product(quantity=5)

    body = {"items": [{"product_id": str(product.public_id), "quantity": 1, "unit_price": "0.01"}], "total": "0.01"}
    problem = assert_problem(customer_client.post(ORDERS, body, format="json"), 400, "validation_error")

    assert "total" in problem["errors"]
    assert not Order.objects.exists()


def _items(product, **overrides):
    item = {"product_id": str(product.public_id), "quantity": 1}
    item.update(overrides)
    return {"items": [item]}


BAD_BODIES = {
    "empty items": lambda p: {"items": []},
    "no items": lambda p: {},
    "items not a list": lambda p: {"items": {"product_id": str(p.public_id), "quantity": 1}},
    "items null": lambda p: {"items": None},
    "quantity zero": lambda p: _items(p, quantity=0),
    "quantity negative": lambda p: _items(p, quantity=-3),
    "quantity absurd": lambda p: _items(p, quantity=10**9),
    "quantity fractional": lambda p: _items(p, quantity=1.5),
    "quantity text": lambda p: _items(p, quantity="two"),
    "quantity missing": lambda p: {"items": [{"product_id": str(p.public_id)}]},
    "product malformed": lambda p: _items(p, product_id="not-a-uuid"),
    "product unknown": lambda p: _items(p, product_id=str(uuid.uuid4())),
    "product missing": lambda p: {"items": [{"quantity": 1}]},
    "same product twice": lambda p: {
        "items": [{"product_id": str(p.public_id), "quantity": 1}, {"product_id": str(p.public_id), "quantity": 2}]
    },
    "unknown item field": lambda p: _items(p, colour="red"),
    "unknown top-level field": lambda p: {**_items(p), "coupon": "FREE"},
    "too many lines": lambda p: {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1} for _ in range(101)]},
    "body is a list": lambda p: [_items(p)],
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_bad_input_is_400_naming_the_field_and_changes_nothing(customer_client, name):
    product = make_product(quantity=5)

    response = customer_client.post(ORDERS, BAD_BODIES[name](product), format="json")

    body = assert_problem(response, 400)
    assert body.get("errors"), body
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()
    assert on_hand(product) == 5
    assert available(product) == 5
    assert live_holds() == []


def test_an_inactive_product_cannot_be_ordered(customer_client, staff_client):
    product = make_product(quantity=5)
    staff_client.delete(f"/api/catalog/products/{product.public_id}/")

    body = assert_problem(order(customer_client, (product, 1)), 400, "validation_error")

    assert body["errors"]["items"][0]["product_id"]
    assert on_hand(product) == 5
    assert live_holds() == []


def test_malformed_json_is_400(customer_client):
    assert_problem(customer_client.post(ORDERS, data="{", content_type="application/json"), 400, "parse_error")


def test_anonymous_cannot_order(api_client):
    assert_problem(api_client.post(ORDERS, {"items": []}, format="json"), 401)


def test_postgres_is_the_last_word_when_redis_thinks_there_is_more(customer_client):
    """Redis missed a stock change (it was unreachable when the change was
    published): the order is refused, nothing is written, Redis is repaired."""
    product = make_product(quantity=5)
    assert available(product) == 5
    Stock.objects.filter(product=product).update(on_hand=1, version=F("version") + 1)  # a write-off Redis never heard of

    body = assert_problem(order(customer_client, (product, 3)), 409, "insufficient_stock")

    assert body["lines"] == [{"product_id": str(product.public_id), "requested": 3, "available": 1}]
    assert not Order.objects.exists()
    assert on_hand(product) == 1
    assert available(product) == 1
    assert live_holds() == []


def test_total_is_computed_by_the_server_with_exact_decimals(customer_client):
    product = make_product(price="0.10", quantity=100)

    body = order(customer_client, (product, 3)).json()

    assert body["total"] == "0.30"
    assert Order.objects.get(public_id=body["id"]).total == Decimal("0.30")
