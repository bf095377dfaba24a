"""PostgreSQL blocked or dropping connections: a 503 with Retry-After within
seconds, nothing half-written, no reservation left, and the same-key retry
orders exactly once. Real locks and real terminated backends, taken from
other sessions on the test database."""

import threading
import time

import pytest
from django.test import Client

from opply.catalog.tests.factories import make_product
from opply.common.testing import assert_problem, backend_pid, table_locked, terminate_backend
from opply.orders.models import IdempotencyRecord, Order
from opply.orders.tests.helpers import assert_inventory_consistent, available, live_holds, on_hand, order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

STOCK = '"catalog"."stock"'
PRODUCT = '"catalog"."product"'


def test_an_order_blocked_by_a_table_lock_is_a_503_within_the_lock_timeout(customer_client, settings):
    product = make_product(quantity=5)
    assert available(product) == 5

    with table_locked(STOCK, mode="EXCLUSIVE"):
        started = time.monotonic()
        blocked = order(customer_client, (product, 2), key="lock-1")
        waited = time.monotonic() - started

    body = assert_problem(blocked, 503, "database_busy")
    assert blocked["Retry-After"] == "2"
    assert "Idempotency-Key" in body["detail"]
    lock_timeout = settings.DATABASE_TIMEOUTS["web"]["lock_timeout_ms"] / 1000
    assert waited < lock_timeout + 2, waited
    # Nothing written, nothing held: the retry is the first real try.
    assert not Order.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert live_holds() == []
    assert available(product) == 5

    retry = order(customer_client, (product, 2), key="lock-1")

    assert retry.status_code == 201, retry.content
    assert not retry.has_header("Idempotent-Replayed")
    assert Order.objects.count() == 1
    assert on_hand(product) == 3
    assert_inventory_consistent(product)


def test_a_read_blocked_by_a_table_lock_is_a_503_not_a_hang(customer_client):
    product = make_product(quantity=5)

    with table_locked(PRODUCT):
        started = time.monotonic()
        response = customer_client.get(f"/api/catalog/products/{product.public_id}/")
        waited = time.monotonic() - started

    assert_problem(response, 503, "database_busy")
    assert waited < 5


def test_liveness_and_a_cached_page_need_no_database(customer_client, django_assert_num_queries):
    make_product(quantity=5)
    warm = customer_client.get("/api/catalog/products/")
    assert warm.status_code == 200

    with table_locked(PRODUCT, STOCK, '"identity"."user"'), django_assert_num_queries(0):
        started = time.monotonic()
        live = Client().get("/health/live/")
        cached = customer_client.get("/api/catalog/products/")
        waited = time.monotonic() - started

    assert live.status_code == 200
    assert cached.status_code == 200
    assert cached.json() == warm.json()
    assert waited < 1


def test_a_connection_dropped_mid_order_is_a_503_and_the_same_key_retry_orders_once(customer_client):
    product = make_product(quantity=5)
    assert available(product) == 5
    pid = backend_pid()

    # The order blocks on the stock row (after reserving in Redis, inside its
    # transaction); then the server drops its connection, as in a failover.
    with table_locked(STOCK, mode="EXCLUSIVE"):
        threading.Timer(0.5, terminate_backend, [pid]).start()
        dropped = order(customer_client, (product, 2), key="drop-1")

    assert_problem(dropped, 503, "database_unavailable")
    assert dropped["Retry-After"]
    assert not Order.objects.exists()
    assert live_holds() == []
    assert available(product) == 5

    retry = order(customer_client, (product, 2), key="drop-1")
    replay = order(customer_client, (product, 2), key="drop-1")

    assert retry.status_code == 201, retry.content
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert on_hand(product) == 3
    assert_inventory_consistent(product)


def test_a_dropped_connection_outside_drf_is_a_503_too(staff, client):
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200

    terminate_backend(backend_pid())
    client.raise_request_exception = False
    response = client.get("/admin/")

    assert_problem(response, 503, "database_unavailable")
    assert response["Retry-After"]
