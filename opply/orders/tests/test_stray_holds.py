"""Holds of decided orders left in the store are settled by the periodic pass (opply.orders.stray_holds)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from opply.catalog import inventory, reservations, scripts
from opply.catalog.keys import EXPIRY_KEY, hold_key, product_key
from opply.catalog.models import Product
from opply.catalog.tests.factories import make_product
from opply.common.redis import get_redis
from opply.orders import fulfilment, tasks
from opply.orders.fulfilment import apply_batch
from opply.orders.models import Order
from opply.orders.stray_holds import settle_stray_holds
from opply.orders.tests.helpers import assert_inventory_consistent, available, live_holds, on_hand, order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture(autouse=True)
def async_mode(settings):
    settings.ORDER_FULFILMENT = "async"


def _accept(client, product: Product, quantity: int) -> Order:
    response = order(client, (product, quantity))
    assert response.status_code == 202, response.content
    return Order.objects.get(public_id=response.json()["id"])


def _restore_as_read_earlier(holds: list[tuple[str, dict]]) -> None:
    """What a rebuild that read these pending holds a moment ago writes now."""
    expiry = timezone.now().timestamp() + inventory.RESTORED_HOLD_SECONDS
    for holder, lines in holds:
        pids = sorted(Product.objects.get(public_id=public_id).id for public_id in lines)
        by_id = {Product.objects.get(public_id=public_id).id: quantity for public_id, quantity in lines.items()}
        keys = [hold_key(holder), EXPIRY_KEY, *(product_key(pid) for pid in pids)]
        scripts.RESTORE(keys=keys, args=[holder, expiry, len(pids), *pids, *(by_id[pid] for pid in pids)])


def _decided_minutes_ago(accepted: Order, minutes: int = 5) -> None:
    Order.objects.filter(pk=accepted.pk).update(status_changed_at=timezone.now() - timedelta(minutes=minutes))


def test_a_hold_restored_by_a_rebuild_racing_the_batch_that_decided_its_order_is_given_back(customer_client):
    product = make_product(quantity=10)
    accepted = _accept(customer_client, product, 4)

    # Redis restarts empty; a rebuild reads the pending holds...
    get_redis().flushdb()
    read_by_the_rebuild = fulfilment.pending_holds([product.public_id])
    assert [holder for holder, _ in read_by_the_rebuild] == [accepted.holder]
    # ...a batch decides the order and tells the store (which rebuilds the key)...
    assert apply_batch([accepted.public_id]).confirmed == [accepted.public_id]
    assert available(product) == 6
    # ...and the rebuild writes what it read: a hold nobody will ever sell.
    _restore_as_read_earlier(read_by_the_rebuild)
    assert available(product) == 2  # four units kept from sale for a week
    assert live_holds() == [hold_key(accepted.holder)]

    assert settle_stray_holds() == 0  # decided a moment ago: maybe still on its way to the store
    _decided_minutes_ago(accepted)
    assert tasks.settle_stray_order_holds() == 1

    assert available(product) == 6
    assert on_hand(product) == 6
    assert_inventory_consistent(product)
    assert settle_stray_holds() == 0  # once


def test_a_hold_the_store_was_never_told_to_sell_is_settled_with_the_committed_on_hand(customer_client):
    product = make_product(quantity=10)
    accepted = _accept(customer_client, product, 3)
    # The batch commits, then the worker dies before telling the store.
    with transaction.atomic():
        outcome = reservations.sell_holds(
            [reservations.Sale(holder=accepted.holder, lines={product.public_id: 3}, reference=str(accepted.public_id))],
            tell_store_on_commit=False,
        )
        Order.objects.filter(pk=accepted.pk).update(status=Order.Status.CONFIRMED)
    assert outcome.refused == []
    _decided_minutes_ago(accepted)
    assert on_hand(product) == 7
    assert available(product) == 7  # the store's stale on-hand (10) less the hold (3)

    assert settle_stray_holds() == 1

    # Released, and the sale learnt from PostgreSQL: 7 available, not 10.
    assert available(product) == 7
    assert_inventory_consistent(product)


def test_holds_of_pending_orders_and_of_requests_in_flight_are_left_alone(customer_client, customer):
    product = make_product(quantity=10)
    pending = _accept(customer_client, product, 2)
    _decided_minutes_ago(pending)  # long pending (a backlog): still its hold
    # An old decided order whose hold name a request in flight reuses (its
    # Idempotency-Key came back after its record expired): a short hold.
    decided = _accept(customer_client, make_product(quantity=5), 1)
    apply_batch([decided.public_id])
    _decided_minutes_ago(decided)
    reservations.reserve(decided.holder, {product.public_id: 1}, ttl_seconds=120)

    assert settle_stray_holds() == 0

    assert sorted(live_holds()) == sorted([hold_key(pending.holder), hold_key(decided.holder)])
    assert available(product) == 7


def test_a_reused_holder_with_a_pending_order_is_that_orders_hold(customer_client):
    product = make_product(quantity=10)
    first = _accept(customer_client, product, 1)
    apply_batch([first.public_id])
    _decided_minutes_ago(first)
    second = _accept(customer_client, product, 2)
    # Both orders carry one hold name (a reused Idempotency-Key, its record expired).
    Order.objects.filter(pk=first.pk).update(holder=second.holder)

    assert settle_stray_holds(grace_seconds=0) == 0
    assert live_holds() == [hold_key(second.holder)]
    assert available(product) == 7


def test_a_batch_of_holders_is_looked_up_through_the_holder_index():
    from django.db import connection

    from opply.orders.stray_holds import orders_holding

    queryset = orders_holding([f"order:{n}" for n in range(1000)]).exclude(status=Order.Status.PENDING)
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # what a large table would choose
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "order_holder" in plan, plan[:2000]
