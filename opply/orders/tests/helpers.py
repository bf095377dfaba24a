"""Shared helpers for the orders tests."""

from __future__ import annotations

from opply.catalog import inventory
from opply.catalog.models import Product, Stock
from opply.catalog.selectors import stock_ledger_mismatches
from opply.common.redis import get_redis

ORDERS = "/api/orders/orders/"


def order(client, *lines, key: str | None = None):  # type: ignore[no-untyped-def]
    """POST an order of (product, quantity) lines."""
    body = {"items": [{"product_id": str(product.public_id), "quantity": quantity} for product, quantity in lines]}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(ORDERS, body, format="json", **headers)


def on_hand(product: Product) -> int:
    return Stock.objects.get(product=product).on_hand


def available(product: Product) -> int:
    return inventory.available([product.id])[product.id]


def live_holds() -> list[str]:
    return sorted(get_redis().scan_iter(match="hold:*"))


def assert_inventory_consistent(*products: Product) -> None:
    """PostgreSQL, the ledger and the availability store agree, and nothing is held."""
    assert stock_ledger_mismatches() == []
    assert live_holds() == []
    for product in products:
        state = inventory.stored_state([product.id])[product.id]
        stock = Stock.objects.get(product=product)
        assert stock.on_hand >= 0
        if state is not None:
            assert state[0] == stock.on_hand, (product.sku, state, stock.on_hand)
            assert state[2] == 0, (product.sku, state)
