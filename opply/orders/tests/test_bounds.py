"""An order's total must fit its column: a 400 naming items, nothing reserved, never a 500."""

import pytest

from opply.catalog.models import Stock
from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.common.testing import assert_problem
from opply.orders import cart
from opply.orders.models import Order
from opply.orders.tests.helpers import ORDERS, available, live_holds

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

# 100 lines of 10,000 units at 1,000,000.00 (every one at its limit) total
# 1,000,000,000,000.00: one cent more than numeric(14,2) holds.
LINES, UNITS, PRICE = 100, 10_000, "1000000.00"


@pytest.fixture
def expensive_products():
    category = CategoryFactory()
    return [make_product(price=PRICE, quantity=UNITS, category=category) for _ in range(LINES)]


def test_a_direct_order_over_the_largest_total_is_a_400_and_reserves_nothing(customer_client, expensive_products):
    body = {"items": [{"product_id": str(p.public_id), "quantity": UNITS} for p in expensive_products]}

    problem = assert_problem(customer_client.post(ORDERS, body, format="json"), 400, "order_total_too_large")

    assert "items" in problem["errors"]
    assert not Order.objects.exists()
    assert live_holds() == []
    assert {available(p) for p in expensive_products} == {UNITS}


def test_a_checkout_over_the_largest_total_is_a_400_and_the_cart_stays(customer_client, customer, expensive_products, settings):
    settings.CART_MAX_UNITS_PER_PRODUCT, settings.CART_MAX_LINES = UNITS, LINES
    for product in expensive_products:
        cart.cart_add(customer_id=customer.public_id, product_id=product.public_id, quantity=UNITS)

    problem = assert_problem(customer_client.post("/api/orders/cart/checkout/", format="json"), 400, "order_total_too_large")

    assert "items" in problem["errors"]
    assert not Order.objects.exists()
    assert len(customer_client.get("/api/orders/cart/").json()["items"]) == LINES
    assert {available(p) for p in expensive_products} == {0}
    assert set(Stock.objects.values_list("on_hand", flat=True)) == {UNITS}


def test_one_line_more_than_the_line_limit_is_a_400(customer_client):
    product = make_product(quantity=5)
    items = [{"product_id": str(product.public_id), "quantity": 10_001}]

    problem = assert_problem(customer_client.post(ORDERS, {"items": items}, format="json"), 400, "validation_error")
    assert "quantity" in problem["errors"]["items"]["0"]


@pytest.mark.parametrize("items", [[], {}, "x", None], ids=["empty", "object", "string", "null"])
def test_bad_items_give_a_flat_error(customer_client, items):
    problem = assert_problem(customer_client.post(ORDERS, {"items": items}, format="json"), 400, "validation_error")

    assert isinstance(problem["errors"]["items"], list)
    assert all(isinstance(message, str) for message in problem["errors"]["items"])


def test_more_lines_than_allowed_is_a_flat_400(customer_client):
    items = [{"product_id": f"00000000-0000-0000-0000-{n:012d}", "quantity": 1} for n in range(101)]

    problem = assert_problem(customer_client.post(ORDERS, {"items": items}, format="json"), 400, "validation_error")
    assert isinstance(problem["errors"]["items"], list)
