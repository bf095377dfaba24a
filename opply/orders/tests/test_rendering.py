"""Orders and carts render through their output serializers: the exact shape clients get."""

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from opply.catalog.selectors import ProductForOrder
from opply.catalog.tests.factories import make_product
from opply.orders.cart import Cart, CartLine
from opply.orders.cart_apis import cart_representation
from opply.orders.models import Order, OrderLine
from opply.orders.selectors import order_representation
from opply.orders.tests.helpers import order

Z_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_an_order_renders_field_by_field():
    placed_at = datetime(2026, 11, 26, 12, 30, 0, 123456, tzinfo=UTC)
    product_id, order_id = uuid.uuid4(), uuid.uuid4()
    value = Order(
        public_id=order_id,
        customer_id=uuid.uuid4(),
        status="confirmed",
        total=Decimal("7.5"),
        created_at=placed_at,
        status_changed_at=placed_at,
        status_reason="",
    )
    line = OrderLine(product_id=product_id, product_name="Beans", unit_price=Decimal("2.5"), quantity=3, line_total=Decimal("7.5"))

    assert order_representation(value, [line]) == {
        "id": str(order_id),
        "status": "confirmed",
        "created_at": "2026-11-26T12:30:00.123456Z",
        "status_changed_at": "2026-11-26T12:30:00.123456Z",
        "status_reason": "",
        "items": [{"product_id": str(product_id), "product_name": "Beans", "unit_price": "2.50", "quantity": 3, "line_total": "7.50"}],
        "total": "7.50",
    }


def test_a_cart_renders_field_by_field():
    product = ProductForOrder(id=1, public_id=uuid.uuid4(), name="Tea", price=Decimal("1.2"), is_active=True)
    expires = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)

    assert cart_representation(Cart([CartLine(product, 2)], expires)) == {
        "items": [{"product_id": str(product.public_id), "name": "Tea", "unit_price": "1.20", "quantity": 2, "line_total": "2.40"}],
        "total": "2.40",
        "expires_at": "2026-11-26T13:00:00Z",
    }
    assert cart_representation(Cart([], None)) == {"items": [], "total": "0.00", "expires_at": None}


@pytest.mark.django_db
def test_a_placed_order_and_its_history_render_alike(customer_client):
    product = make_product(quantity=5, price="3.10")

    placed = order(customer_client, (product, 2)).json()
    listed = customer_client.get("/api/orders/orders/").json()["results"][0]
    detail = customer_client.get(f"/api/orders/orders/{placed['id']}/").json()

    assert placed == listed == detail
    assert Z_TIMESTAMP.fullmatch(placed["created_at"])
    assert placed["items"] == [
        {"product_id": str(product.public_id), "product_name": product.name, "unit_price": "3.10", "quantity": 2, "line_total": "6.20"}
    ]
