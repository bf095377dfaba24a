"""The fulfilment consumer in a real Celery worker process, on the real broker, database and Redis,
with the real things broken: the worker killed mid-batch, PostgreSQL and Redis cut off, the
broker unreachable at publish time, a message that keeps failing."""

import threading
import time
import uuid

import pytest
from celery.utils.imports import symbol_by_name
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from opply.catalog.models import StockMovement
from opply.catalog.tests.factories import make_product
from opply.common.testing import TcpProxy, raw_connection, run_concurrently
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory
from opply.orders import outbox
from opply.orders.models import Order, OrderLine, OutboxMessage
from opply.orders.tests.broker import depth, drain
from opply.orders.tests.helpers import assert_inventory_consistent, available, live_holds, on_hand, order
from opply.orders.tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True, databases=["default", "replica"]), pytest.mark.slow]


@pytest.fixture(autouse=True)
def async_mode(settings):
    settings.ORDER_FULFILMENT = "async"
    # a clean queue: nothing left by an earlier test
    drain(outbox.fulfilment_queue().name)
    drain(outbox.dead_letter_queue().name)


def pending() -> int:
    return Order.objects.filter(status="pending").count()


def assert_ledger_is_the_order_lines(*products) -> None:
    for product in products:
        sold = sum(OrderLine.objects.filter(product_id=product.public_id, order__status="confirmed").values_list("quantity", flat=True))
        ledger = -sum(StockMovement.objects.filter(product=product, reason="order").values_list("delta", flat=True))
        assert ledger == sold, (product.sku, ledger, sold)
    # one ledger row per confirmed line, none for a rejected or pending order
    assert StockMovement.objects.filter(reason="order").count() == OrderLine.objects.filter(order__status="confirmed").count()


def test_200_customers_race_for_50_units_50_are_accepted_and_confirmed_exactly_once():
    product = make_product(quantity=50)
    clients = [bearer_client(UserFactory()) for _ in range(20)]

    with Worker() as worker:
        statuses = run_concurrently(200, lambda i: order(clients[i % 20], (product, 1)).status_code)

        assert statuses.count(202) == 50
        assert statuses.count(409) == 150
        worker.wait_for(lambda: Order.objects.filter(status="confirmed").count() == 50, what="50 confirmed orders")
        # the worker publishes the confirmations from its background publisher (no relay runs here)
        worker.wait_for(lambda: not OutboxMessage.objects.filter(sent_at__isnull=True).exists(), what="every event published")

    assert Order.objects.count() == 50
    assert on_hand(product) == 0
    assert available(product) == 0
    assert_ledger_is_the_order_lines(product)
    assert_inventory_consistent(product)
    assert OutboxMessage.objects.filter(topic="order.confirmed").count() == 50


def _requirements(step: type) -> set[type]:
    found: set[type] = set()
    for name in step.requires:
        required = symbol_by_name(name)
        found |= {required} | _requirements(required)
    return found


def test_the_consumer_starts_after_mingle_whatever_order_celery_picks_for_the_other_steps():
    """Celery starts a worker's steps in a topological order of their
    ``requires`` that otherwise varies from one process to the next. Mingle
    drains the shared connection synchronously until it has been quiet for a
    second: a consumer started before it kept it draining, and no batch
    timer firing, for as long as orders kept coming (next test)."""
    from celery.worker.consumer.mingle import Mingle

    from opply.orders.consumer import FulfilmentConsumer

    assert Mingle in _requirements(FulfilmentConsumer)


def test_orders_that_keep_arriving_while_the_worker_starts_are_confirmed_as_they_come(customer_client):
    """Not once FULFILMENT_BATCH_SIZE messages have piled up (before the
    consumer waited for Mingle, this failed whenever Celery happened to start
    it first: the first orders below waited 4 s)."""
    product = make_product(quantity=10_000)
    stop = threading.Event()
    statuses: list[int] = []

    def keep_ordering() -> None:
        try:
            while not stop.is_set():
                statuses.append(order(customer_client, (product, 1)).status_code)
                time.sleep(0.02)
        finally:
            connections.close_all()

    orderer = threading.Thread(target=keep_ordering)
    orderer.start()
    try:
        with Worker(FULFILMENT_BATCH_SIZE=1000) as worker:
            worker.wait_until_consuming()
            consuming = timezone.now()
            time.sleep(3)
            stop.set()
            orderer.join()
            worker.wait_for(lambda: pending() == 0, what="every order confirmed")
    finally:
        stop.set()
        orderer.join()

    # (an assertion in the thread would be lost: its answers are checked here)
    assert set(statuses) == {202}, statuses
    created_and_confirmed = Order.objects.filter(created_at__gte=consuming).values_list("created_at", "confirmed_at")
    lags = [(confirmed - created).total_seconds() for created, confirmed in created_and_confirmed]
    assert len(lags) >= 20
    # a batch waits FULFILMENT_BATCH_WAIT_SECONDS (0.25 s) to fill
    assert max(lags) < 1.5, sorted(lags)[-5:]
    assert_ledger_is_the_order_lines(product)


def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(customer_client):
    hot, other = make_product(quantity=1000), make_product(quantity=1000)
    for i in range(120):
        order(customer_client, (hot, 2), *([(other, 1)] if i % 3 == 0 else []))
    assert pending() == 120

    # Hold the hot stock row: the worker's batch blocks inside its transaction.
    with raw_connection() as blocker:
        blocker.execute("BEGIN")
        blocker.execute('SELECT on_hand FROM "catalog"."stock" WHERE product_id = %s FOR UPDATE', [hot.id])
        worker = Worker(FULFILMENT_BATCH_SIZE=50).start()
        worker.wait_for(lambda: _waiting_on_a_lock(), timeout=60, what="the batch to block on the stock row")
        worker.kill()
        worker.stop()  # its files and task queue (the killed one acked nothing)
        blocker.execute("ROLLBACK")

    assert pending() == 120  # the killed batch rolled back whole
    assert on_hand(hot) == 1000
    with Worker(FULFILMENT_BATCH_SIZE=50) as second:
        second.wait_for(lambda: pending() == 0, timeout=90, what="every order applied after the restart")

    assert Order.objects.filter(status="confirmed").count() == 120
    assert on_hand(hot) == 1000 - 240
    assert on_hand(other) == 1000 - 40
    assert_ledger_is_the_order_lines(hot, other)
    assert_inventory_consistent(hot, other)


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE %s""",
            ['%"catalog"."stock"%'],
        )
        return cursor.fetchone()[0] > 0


def test_the_database_cut_off_is_retried_with_backoff_until_it_returns(customer_client):
    product = make_product(quantity=100)
    proxy = TcpProxy(int(connection.settings_dict["PORT"] or 5432))
    db = connection.settings_dict
    worker = Worker(
        DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
        FULFILMENT_MAX_RETRIES=30,
        FULFILMENT_RETRY_BASE_SECONDS=0.1,
    )
    proxy.start()
    try:
        worker.start()
        worker.wait_until_consuming()
        proxy.stop()  # PostgreSQL "goes away" for the worker
        accepted = [order(customer_client, (product, 1)).json()["id"] for _ in range(10)]
        worker.wait_for(lambda: "retry" in worker.output(), what="a retry")
        assert pending() == 10

        proxy.start()
        worker.wait_for(lambda: pending() == 0, timeout=90, what="the orders applied once the database is back")
    finally:
        worker.stop()
        proxy.stop()

    assert set(Order.objects.filter(public_id__in=accepted).values_list("status", flat=True)) == {"confirmed"}
    assert on_hand(product) == 90
    assert depth(outbox.dead_letter_queue().name) == 0
    assert_inventory_consistent(product)


def test_redis_cut_off_after_the_commit_is_retried_until_the_holds_are_settled(customer_client, settings):
    product = make_product(quantity=100)
    redis_port = int(settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    redis_db = settings.REDIS_URL.rsplit("/", 1)[1]
    proxy = TcpProxy(redis_port)
    worker = Worker(
        TEST_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/{redis_db}", FULFILMENT_MAX_RETRIES=30, FULFILMENT_RETRY_BASE_SECONDS=0.1
    )
    proxy.start()
    try:
        worker.start()
        worker.wait_until_consuming()
        proxy.stop()  # Redis "goes away" for the worker only
        for _ in range(10):
            assert order(customer_client, (product, 1)).status_code == 202
        worker.wait_for(lambda: "retry" in worker.output(), what="a retry")

        proxy.start()
        worker.wait_for(
            lambda: pending() == 0 and available(product) == 90 and not live_holds(),
            timeout=90,
            what="orders applied and their holds settled",
        )
    finally:
        worker.stop()
        proxy.stop()

    assert on_hand(product) == 90
    assert_ledger_is_the_order_lines(product)
    assert_inventory_consistent(product)


def test_events_never_published_after_the_commit_are_relayed_and_fulfilled(customer_client, settings):
    product = make_product(quantity=10)
    broker = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"  # the API process cannot reach the broker
    outbox._broker_down_until = 0.0
    try:
        accepted = [order(customer_client, (product, 1)).json()["id"] for _ in range(3)]
    finally:
        settings.CELERY_BROKER_URL = broker
        outbox._broker_down_until = 0.0
    assert OutboxMessage.objects.filter(sent_at__isnull=True, topic="order.placed").count() == 3
    assert depth(outbox.fulfilment_queue().name) == 0

    with Worker(beat=True, OUTBOX_RELAY_SECONDS=0.5, OUTBOX_RELAY_AFTER_SECONDS=0) as worker:
        worker.wait_for(lambda: pending() == 0, timeout=60, what="the relayed orders to be applied")

    assert set(Order.objects.filter(public_id__in=accepted).values_list("status", flat=True)) == {"confirmed"}
    assert not OutboxMessage.objects.filter(sent_at__isnull=True, topic="order.placed").exists()
    assert on_hand(product) == 7
    assert_inventory_consistent(product)


def test_an_order_that_keeps_failing_is_dead_lettered_left_pending_and_logged_the_rest_go_on(customer_client):
    product = make_product(quantity=10)
    good = [order(customer_client, (product, 1)).json()["id"] for _ in range(3)]
    poisoned = order(customer_client, (product, 1)).json()["id"]
    with connection.cursor() as cursor:  # something about this one order always fails
        cursor.execute(
            f"""CREATE FUNCTION orders.refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF NEW.public_id = '{poisoned}' THEN RAISE EXCEPTION 'poisoned order'; END IF;
                  RETURN NEW;
                END $$;
                CREATE TRIGGER refuse_poisoned BEFORE UPDATE ON "orders"."order"
                   FOR EACH ROW EXECUTE FUNCTION orders.refuse_poisoned();"""
        )
    try:
        with Worker(FULFILMENT_MAX_RETRIES=2) as worker:
            worker.wait_for(lambda: depth(outbox.dead_letter_queue().name) == 1, timeout=60, what="a dead letter")
            worker.wait_for(lambda: pending() == 1, what="the others applied")
            assert f"order {poisoned} dead-lettered" in worker.output()
    finally:
        with connection.cursor() as cursor:
            cursor.execute('DROP TRIGGER refuse_poisoned ON "orders"."order"; DROP FUNCTION orders.refuse_poisoned()')

    assert Order.objects.get(public_id=poisoned).status == "pending"
    assert set(Order.objects.filter(public_id__in=good).values_list("status", flat=True)) == {"confirmed"}
    assert [body["order"]["id"] for body in drain(outbox.dead_letter_queue().name)] == [poisoned]

    # The operator fixed the cause and re-drives what is pending (README: Dead letters).
    call_command("fulfil_pending")

    assert Order.objects.get(public_id=poisoned).status == "confirmed"
    assert on_hand(product) == 6
    assert_inventory_consistent(product)


def test_a_message_that_names_no_order_is_dead_lettered_and_an_unknown_order_is_dropped():
    from django.conf import settings
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL) as conn:
        producer = conn.Producer()
        producer.publish({"nonsense": True}, exchange=outbox.events_exchange(), routing_key="order.placed", declare=outbox.topology())
        producer.publish({"order": {"id": str(uuid.uuid4())}}, exchange=outbox.events_exchange(), routing_key="order.placed")

    with Worker() as worker:
        worker.wait_for(lambda: depth(outbox.dead_letter_queue().name) == 1, what="the malformed message dead-lettered")
        worker.wait_for(lambda: depth(outbox.fulfilment_queue().name) == 0, what="the queue drained")
