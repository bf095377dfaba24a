"""The order life cycle: statuses, their times, transitions refused with 409, row locks."""

from datetime import datetime

import pytest
from django.test import Client

from opply.catalog.models import StockMovement
from opply.catalog.tests.factories import make_product
from opply.common.testing import assert_problem, run_concurrently
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory
from opply.orders import outbox
from opply.orders.models import Order, OutboxMessage
from opply.orders.tests.broker import drain
from opply.orders.tests.helpers import ORDERS, assert_inventory_consistent, available, on_hand, order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

STAFF = "/api/orders/staff/orders/"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def product():
    return make_product(quantity=10, price="2.00")


@pytest.fixture
def placed(customer_client, product):
    response = order(customer_client, (product, 3))
    assert response.status_code == 201
    return response.json()


def test_a_confirmed_order_shows_its_status_and_when_it_entered_it(customer_client, placed):
    detail = customer_client.get(f"{ORDERS}{placed['id']}/").json()

    assert detail["status"] == "confirmed"
    assert detail["status_changed_at"] == detail["created_at"]
    assert detail["status_reason"] == ""
    row = Order.objects.get(public_id=placed["id"])
    assert row.confirmed_at == row.status_changed_at == row.created_at
    assert (row.shipped_at, row.cancelled_at, row.rejected_at) == (None, None, None)
    (event,) = OutboxMessage.objects.all()
    assert (event.topic, event.payload["order"]["id"], event.payload["order"]["status"]) == ("order.confirmed", placed["id"], "confirmed")
    assert event.sent_at is not None


def test_cancelling_stamps_the_time_and_who(customer_client, placed):
    response = customer_client.post(f"{ORDERS}{placed['id']}/cancel/")

    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["status_reason"]) == ("cancelled", "cancelled by customer")
    assert _at(body["status_changed_at"]) > _at(placed["status_changed_at"])
    row = Order.objects.get(public_id=placed["id"])
    assert row.cancelled_at == row.status_changed_at


def test_history_filters_by_status(customer_client, product):
    kept = order(customer_client, (product, 1)).json()
    cancelled = order(customer_client, (product, 1)).json()
    customer_client.post(f"{ORDERS}{cancelled['id']}/cancel/")

    assert [o["id"] for o in customer_client.get(ORDERS, {"status": "confirmed"}).json()["results"]] == [kept["id"]]
    assert [o["id"] for o in customer_client.get(ORDERS, {"status": "cancelled"}).json()["results"]] == [cancelled["id"]]
    assert customer_client.get(ORDERS, {"status": "shipped"}).json()["count"] == 0
    assert customer_client.get(ORDERS).json()["count"] == 2


def test_an_unknown_status_filter_is_a_400_naming_it(customer_client, placed):
    problem = assert_problem(customer_client.get(ORDERS, {"status": "lost"}), 400)

    assert "status" in problem["errors"]


def test_staff_ship_a_confirmed_order_and_it_can_no_longer_be_cancelled(staff_client, customer_client, placed, product):
    shipped = staff_client.post(f"{STAFF}{placed['id']}/ship/")

    assert shipped.status_code == 200
    assert shipped.json()["status"] == "shipped"
    row = Order.objects.get(public_id=placed["id"])
    assert row.shipped_at == row.status_changed_at
    for client, url in ((customer_client, f"{ORDERS}{placed['id']}/cancel/"), (staff_client, f"{STAFF}{placed['id']}/cancel/")):
        problem = assert_problem(client.post(url), 409, "order_not_cancellable")
        assert problem["order_status"] == "shipped"
    assert on_hand(product) == 7
    assert_problem(staff_client.post(f"{STAFF}{placed['id']}/ship/"), 409, "order_not_shippable")
    assert Order.objects.get(public_id=placed["id"]).status == "shipped"


def test_staff_cancel_returns_the_stock_once(staff_client, placed, product):
    response = staff_client.post(f"{STAFF}{placed['id']}/cancel/")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_reason"]) == ("cancelled", "cancelled by staff")
    assert on_hand(product) == 10
    assert available(product) == 10
    assert_problem(staff_client.post(f"{STAFF}{placed['id']}/cancel/"), 409, "order_not_cancellable")
    assert_problem(staff_client.post(f"{STAFF}{placed['id']}/ship/"), 409, "order_not_shippable")
    assert on_hand(product) == 10
    assert StockMovement.objects.filter(reference=placed["id"], reason="cancel").count() == 1
    assert_inventory_consistent(product)


def test_a_pending_order_can_be_neither_shipped_nor_cancelled(staff_client, customer, product):
    pending = Order.objects.create(customer_id=customer.public_id, status="pending", total="0.00")

    assert_problem(staff_client.post(f"{STAFF}{pending.public_id}/ship/"), 409, "order_not_shippable")
    assert_problem(staff_client.post(f"{STAFF}{pending.public_id}/cancel/"), 409, "order_not_cancellable")
    assert_problem(bearer_client(customer).post(f"{ORDERS}{pending.public_id}/cancel/"), 409, "order_not_cancellable")
    assert Order.objects.get(pk=pending.pk).status == "pending"


def test_ship_racing_cancel_ends_with_exactly_one_of_them(staff_client, customer_client, product):
    ids = [order(customer_client, (product, 1)).json()["id"] for _ in range(5)]

    def act(i):
        order_id = ids[i // 2]
        if i % 2:
            return "ship", bearer_client(UserFactory(is_staff=True)).post(f"{STAFF}{order_id}/ship/").status_code
        return "cancel", bearer_client(UserFactory(is_staff=True)).post(f"{STAFF}{order_id}/cancel/").status_code

    outcomes = run_concurrently(10, act)

    for i in range(0, 10, 2):
        pair = sorted(code for _, code in outcomes[i : i + 2])
        assert pair == [200, 409], outcomes
    shipped = Order.objects.filter(status="shipped").count()
    cancelled = Order.objects.filter(status="cancelled").count()
    assert shipped + cancelled == 5
    assert on_hand(product) == 10 - 5 + cancelled
    assert_inventory_consistent(product)


def test_every_transition_is_an_event_in_the_outbox_with_the_documented_payload(staff_client, placed):
    staff_client.post(f"{STAFF}{placed['id']}/ship/")

    event = OutboxMessage.objects.get(topic="order.shipped")
    body = event.payload
    assert set(body) == {"event", "version", "event_id", "occurred_at", "order"}
    assert (body["event"], body["version"]) == ("order.shipped", 1)
    assert body["order"]["id"] == placed["id"]
    assert body["order"]["status"] == "shipped"
    assert body["order"]["items"] == placed["items"]
    assert set(body["order"]) == {"id", "customer_id", "status", "status_changed_at", "reason", "created_at", "total", "items"}
    # published after commit, to the events exchange (the relay has nothing left)
    assert event.sent_at is not None
    assert outbox.relay(older_than_seconds=0) == 0


def test_an_event_that_could_not_be_published_is_relayed(staff_client, placed, settings):
    from opply.orders.tests.broker import depth

    spy_queue = f"{settings.FULFILMENT_QUEUE}.spy"
    _bind_spy(spy_queue)
    try:
        broker = settings.CELERY_BROKER_URL
        settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"  # the broker "is down" for the request
        outbox._broker_down_until = 0.0
        try:
            assert staff_client.post(f"{STAFF}{placed['id']}/ship/").status_code == 200
        finally:
            settings.CELERY_BROKER_URL = broker
            outbox._broker_down_until = 0.0
        assert OutboxMessage.objects.get(topic="order.shipped").sent_at is None
        assert depth(spy_queue) == 0

        assert outbox.relay(older_than_seconds=0) == 1

        assert OutboxMessage.objects.get(topic="order.shipped").sent_at is not None
        bodies = drain(spy_queue)
        assert [b["event"] for b in bodies] == ["order.shipped"]
    finally:
        _delete(spy_queue)


def _bind_spy(name):
    from django.conf import settings
    from kombu import Connection, Queue

    with Connection(settings.CELERY_BROKER_URL) as connection:
        Queue(name, exchange=outbox.events_exchange(), routing_key="order.#", durable=False, auto_delete=False)(
            connection.default_channel
        ).declare()


def _delete(name):
    from django.conf import settings
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL) as connection:
        connection.default_channel.queue_delete(queue=name)


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_ships_and_cancels_through_the_services(admin_client, customer_client, product):
    to_ship = order(customer_client, (product, 1)).json()["id"]
    to_cancel = order(customer_client, (product, 2)).json()["id"]
    rows = {o.public_id.hex: o.pk for o in Order.objects.all()}

    def act(action, public_id):
        pk = rows[public_id.replace("-", "")]
        return admin_client.post("/admin/orders/order/", {"action": action, "_selected_action": [pk]})

    assert act("ship", to_ship).status_code == 302
    assert act("cancel", to_cancel).status_code == 302
    act("cancel", to_ship)  # refused by the service: a message, no change

    assert Order.objects.get(public_id=to_ship).status == "shipped"
    assert Order.objects.get(public_id=to_cancel).status == "cancelled"
    assert on_hand(product) == 9
    assert OutboxMessage.objects.filter(topic="order.cancelled").count() == 1
    assert_inventory_consistent(product)
