"""Asynchronous fulfilment, in process: accepting (202), applying batches, rebuilding the store.

The real worker process, its failures and the races are in test_fulfilment_worker.py.
"""

import uuid

import pytest
from django.db import connection

from opply.catalog.models import StockMovement
from opply.catalog.reservations import rebuild_all
from opply.catalog.tests.factories import make_product
from opply.common.redis import get_redis
from opply.common.testing import assert_problem, run_concurrently
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory
from opply.orders import outbox
from opply.orders.fulfilment import apply_batch
from opply.orders.models import IdempotencyRecord, Order, OrderLine, OutboxMessage
from opply.orders.tests.broker import drain
from opply.orders.tests.helpers import ORDERS, assert_inventory_consistent, available, live_holds, on_hand, order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture(autouse=True)
def async_mode(settings):
    settings.ORDER_FULFILMENT = "async"


def placed_messages() -> list[str]:
    return [body["order"]["id"] for body in drain(outbox.fulfilment_queue().name)]


def ids(*responses) -> list[uuid.UUID]:
    return [uuid.UUID(r.json()["id"]) for r in responses]


def test_an_accepted_order_is_202_pending_held_and_touches_no_stock_row(customer_client):
    product = make_product(quantity=10, price="2.00")
    drain(outbox.fulfilment_queue().name)

    response = order(customer_client, (product, 3))

    body = response.json()
    assert response.status_code == 202
    assert response["Location"].endswith(f"{ORDERS}{body['id']}/")
    assert (body["status"], body["total"]) == ("pending", "6.00")
    assert customer_client.get(f"{ORDERS}{body['id']}/").json()["status"] == "pending"
    assert on_hand(product) == 10
    assert StockMovement.objects.filter(reason="order").count() == 0
    assert available(product) == 7  # held in the store
    assert len(live_holds()) == 1
    event = OutboxMessage.objects.get(topic="order.placed")
    assert event.payload["order"]["id"] == body["id"]
    assert event.sent_at is not None
    assert placed_messages() == [body["id"]]


def test_a_short_line_is_still_a_409_at_once_and_nothing_is_written(customer_client):
    product = make_product(quantity=2)

    problem = assert_problem(order(customer_client, (product, 3)), 409, "insufficient_stock")

    assert problem["lines"][0]["available"] == 2
    assert Order.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert live_holds() == []


def test_a_batch_confirms_sells_once_and_releases_the_holds(customer_client):
    a, b = make_product(quantity=10), make_product(quantity=10)
    accepted = ids(order(customer_client, (a, 2)), order(customer_client, (a, 3), (b, 1)), order(customer_client, (b, 4)))

    result = apply_batch(accepted)

    assert sorted(result.confirmed) == sorted(accepted)
    assert result.rejected == []
    assert (on_hand(a), on_hand(b)) == (5, 5)
    assert set(Order.objects.values_list("status", flat=True)) == {"confirmed"}
    for row in Order.objects.all():
        assert row.confirmed_at == row.status_changed_at and row.confirmed_at > row.created_at
        assert row.holder.startswith("order:")  # kept: a redelivered message could settle it
    # the ledger is the order lines, one row each, referencing its order
    ledger = sorted(StockMovement.objects.filter(reason="order").values_list("reference", "product__public_id", "delta"))
    lines = sorted(OrderLine.objects.values_list("order__public_id", "product_id", "quantity"))
    assert ledger == [(str(o), p, -q) for o, p, q in lines]
    assert OutboxMessage.objects.filter(topic="order.confirmed").count() == 3
    assert_inventory_consistent(a, b)

    again = apply_batch(accepted)

    assert (again.confirmed, again.rejected, sorted(again.skipped)) == ([], [], sorted(accepted))
    assert (on_hand(a), on_hand(b)) == (5, 5)


def test_when_the_database_has_less_than_the_store_thought_the_order_is_rejected_with_a_reason(customer_client, customer):
    product = make_product(quantity=5, name="Oat milk")
    first, second = ids(order(customer_client, (product, 3)), order(customer_client, (product, 2)))
    with connection.cursor() as cursor:  # the store drifted: PostgreSQL has 4 units, Redis still says 5
        cursor.execute('UPDATE "catalog"."stock" SET on_hand = 4, version = version + 1 WHERE product_id = %s', [product.id])
        cursor.execute(
            """INSERT INTO "catalog"."stock_movement" (product_id, delta, reason, reference, created_at)
               VALUES (%s, -1, 'write_off', 'test', now())""",
            [product.id],
        )

    result = apply_batch([first, second])

    assert (result.confirmed, result.rejected) == ([first], [second])
    rejected = bearer_client(customer).get(f"{ORDERS}{second}/").json()
    assert rejected["status"] == "rejected"
    assert "Oat milk" in rejected["status_reason"] and "2 ordered, 1 in stock" in rejected["status_reason"]
    assert on_hand(product) == 1
    assert StockMovement.objects.filter(reference=str(second)).count() == 0
    assert OutboxMessage.objects.filter(topic="order.rejected").count() == 1
    assert_inventory_consistent(product)


def test_replays_of_one_idempotency_key_give_the_same_202(customer_client):
    product = make_product(quantity=10)

    first = order(customer_client, (product, 2), key="k-1")
    again = order(customer_client, (product, 2), key="k-1")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert Order.objects.count() == 1
    assert IdempotencyRecord.objects.get().response_status == 202
    assert available(product) == 8


def test_checkout_is_accepted_the_same_way(customer_client):
    product = make_product(quantity=10)
    customer_client.post("/api/orders/cart/items/", {"product_id": str(product.public_id), "quantity": 4}, format="json")

    response = customer_client.post("/api/orders/cart/checkout/")

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert customer_client.get("/api/orders/cart/").json()["items"] == []
    assert available(product) == 6
    assert apply_batch(ids(response)).confirmed == ids(response)
    assert on_hand(product) == 6
    assert_inventory_consistent(product)


def test_with_the_store_down_postgresql_decides_at_once(customer_client, redis_down):
    product = make_product(quantity=10)

    response = order(customer_client, (product, 3))

    assert response.status_code == 201
    assert response.json()["status"] == "confirmed"
    assert on_hand(product) == 7


def test_a_pending_order_cannot_be_cancelled_or_shipped_until_it_is_confirmed(customer_client, staff_client):
    product = make_product(quantity=10)
    (pending,) = ids(order(customer_client, (product, 1)))

    assert_problem(customer_client.post(f"{ORDERS}{pending}/cancel/"), 409, "order_not_cancellable")
    assert_problem(staff_client.post(f"/api/orders/staff/orders/{pending}/ship/"), 409, "order_not_shippable")
    apply_batch([pending])
    assert staff_client.post(f"/api/orders/staff/orders/{pending}/ship/").status_code == 200


def test_rebuilding_a_flushed_store_counts_pending_orders_as_held_then_a_race_sells_only_the_rest():
    product = make_product(quantity=50)
    clients = [bearer_client(UserFactory()) for _ in range(10)]
    pending = [order(clients[i], (product, 2)) for i in range(10)]  # 20 units accepted, not applied
    assert {r.status_code for r in pending} == {202}

    get_redis().flushdb()  # Redis restarted empty
    for _ in rebuild_all():
        pass

    assert available(product) == 30
    statuses = run_concurrently(60, lambda i: order(clients[i % 10], (product, 1)).status_code)
    assert statuses.count(202) == 30
    assert statuses.count(409) == 30
    result = apply_batch([o.public_id for o in Order.objects.filter(status="pending")])
    assert len(result.confirmed) == 40
    assert result.rejected == []
    assert on_hand(product) == 0
    assert_inventory_consistent(product)
