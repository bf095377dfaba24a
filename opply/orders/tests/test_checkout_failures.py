"""Checkout and cart changes that fail part-way: a line is never dropped in
silence, the cart's hold goes back to the cart, nothing is held twice, and
the client's retry (same Idempotency-Key) works."""

import pytest

from opply.catalog import inventory
from opply.catalog.tests.factories import make_product
from opply.common.redis import get_redis
from opply.common.testing import assert_problem, table_locked
from opply.orders.cart import cart_holder
from opply.orders.models import IdempotencyRecord, Order
from opply.orders.tests.helpers import assert_inventory_consistent, available, live_holds, on_hand
from opply.orders.tests.test_cart import CART, CHECKOUT, add

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

STOCK = '"catalog"."stock"'
PRODUCT = '"catalog"."product"'
UNKNOWN_PRODUCT_ID = 987_654_321


def test_a_cart_line_the_database_does_not_know_fails_checkout_loudly_and_the_cart_is_kept(customer_client, customer):
    product = make_product(quantity=5)
    add(customer_client, product, 2)
    # A hold on a product PostgreSQL does not have (a database restored from
    # an older backup than Redis, say).
    get_redis().hset(inventory.product_key(UNKNOWN_PRODUCT_ID), mapping={"on_hand": 5, "version": 1, "reserved": 0})
    assert inventory.adjust_hold(cart_holder(customer.public_id), {UNKNOWN_PRODUCT_ID: 1}, ttl_seconds=900).ok

    response = customer_client.post(CHECKOUT, HTTP_IDEMPOTENCY_KEY="co-unknown")

    assert_problem(response, 409, "cart_line_unavailable")
    assert not Order.objects.exists()
    assert inventory.held_by(cart_holder(customer.public_id)) == {product.id: 2, UNKNOWN_PRODUCT_ID: 1}
    assert available(product) == 3
    assert [item["quantity"] for item in customer_client.get(CART).json()["items"]] == [2]


def test_a_checkout_failing_after_the_hand_over_gives_the_cart_back_and_the_same_key_retry_orders(customer_client):
    first, second = make_product(quantity=5), make_product(quantity=5)
    add(customer_client, first, 2)
    add(customer_client, second, 3)
    cart_before = customer_client.get(CART).json()

    with table_locked(STOCK, mode="EXCLUSIVE", release_after=8):
        failed = customer_client.post(CHECKOUT, HTTP_IDEMPOTENCY_KEY="co-lock")

    assert_problem(failed, 503, "database_busy")
    assert failed["Retry-After"]
    cart_after = customer_client.get(CART).json()
    assert cart_after["items"] == cart_before["items"]
    assert (available(first), available(second)) == (3, 2)
    assert not Order.objects.exists()
    assert not IdempotencyRecord.objects.exists()

    retry = customer_client.post(CHECKOUT, HTTP_IDEMPOTENCY_KEY="co-lock")
    replay = customer_client.post(CHECKOUT, HTTP_IDEMPOTENCY_KEY="co-lock")

    assert retry.status_code == 201, retry.content
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == retry.json()
    assert customer_client.get(CART).json()["items"] == []
    assert Order.objects.count() == 1
    assert (on_hand(first), on_hand(second)) == (3, 2)
    assert_inventory_consistent(first, second)


def test_a_cart_add_that_fails_holds_nothing_and_its_retry_holds_once(customer_client, customer):
    product = make_product(quantity=10)

    with table_locked(PRODUCT, release_after=8):
        failed = add(customer_client, product, 2)

    assert_problem(failed, 503, "database_busy")
    assert inventory.held_by(cart_holder(customer.public_id)) == {}
    assert available(product) == 10

    retry = add(customer_client, product, 2)

    assert retry.status_code == 200, retry.content
    assert inventory.held_by(cart_holder(customer.public_id)) == {product.id: 2}
    assert available(product) == 8


def test_the_last_units_reserved_while_the_list_flag_cannot_be_written_still_reserve_once(customer_client, customer):
    """Reserving the last units refreshes the product's list flag (a write on
    the product row). With that row blocked, the reservation stands: the flag
    is derived and the periodic resync repairs it; the add never fails after
    reserving, so a retry cannot hold twice."""
    product = make_product(quantity=2)

    with table_locked(PRODUCT, mode="EXCLUSIVE", release_after=8):
        added = add(customer_client, product, 2)

    assert added.status_code == 200, added.content
    assert inventory.held_by(cart_holder(customer.public_id)) == {product.id: 2}
    assert available(product) == 0
    assert live_holds() == [f"hold:{cart_holder(customer.public_id)}"]
