"""The replica is configured but down: every endpoint keeps working on the
primary, a circuit breaker keeps requests from paying a connect timeout
each, and reads return to the replica once it answers again.

The replica here is a real TCP endpoint on this machine: a refused port, a
socket that never answers, or a forwarder to PostgreSQL that is stopped and
started (tests/replica has the suite on a real streaming standby).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import close_old_connections, connections

from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.common.db.replica import breaker
from opply.common.testing import TcpProxy, refused_port, replica_at, silent_port
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory
from opply.orders.models import Order
from opply.orders.tests.helpers import assert_inventory_consistent, available, live_holds, order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

ITEMS = "/api/orders/cart/items/"


def request(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    """One request as the server runs it: connections are checked at its start
    (the test client skips that step)."""
    close_old_connections()
    return call(*args, **kwargs)


@contextmanager
def queries_on(alias: str) -> Iterator[list[dict]]:
    """The queries run on ``alias`` inside the block (without connecting to it,
    unlike CaptureQueriesContext: the replica may be down)."""
    connection = connections[alias]
    connection.queries_log.clear()
    connection.force_debug_cursor = True
    captured: list[dict] = []
    try:
        yield captured
    finally:
        connection.force_debug_cursor = False
        captured.extend(connection.queries_log)


def add(client, product, quantity):  # type: ignore[no-untyped-def]
    return request(client.post, ITEMS, {"product_id": str(product.public_id), "quantity": quantity}, format="json")


def test_checkout_with_the_replica_down_orders_every_line_of_the_cart(customer_client):
    first, second = make_product(quantity=5, price="2.00"), make_product(quantity=5, price="3.00")
    add(customer_client, first, 2)
    add(customer_client, second, 1)

    with replica_at(refused_port()):
        response = request(customer_client.post, "/api/orders/cart/checkout/", HTTP_IDEMPOTENCY_KEY="co-1")

    assert response.status_code == 201, response.content
    body = response.json()
    assert sorted((item["product_id"], item["quantity"]) for item in body["items"]) == sorted(
        [(str(first.public_id), 2), (str(second.public_id), 1)]
    )
    assert body["total"] == "7.00"
    assert live_holds() == []
    assert (available(first), available(second)) == (3, 4)
    assert_inventory_consistent(first, second)


def test_a_cart_add_with_the_replica_down_reserves_once(customer_client):
    product = make_product(quantity=10)

    with replica_at(refused_port()):
        added = add(customer_client, product, 2)

    assert added.status_code == 200, added.content
    assert added.json()["items"][0]["quantity"] == 2
    assert available(product) == 8


def test_every_read_falls_back_to_the_primary_while_the_replica_is_down(customer_client, customer, password, staff_client):
    product = make_product(quantity=5)
    placed = order(customer_client, (product, 1)).json()
    fresh = UserFactory(password=password)

    with replica_at(refused_port()):
        responses = {
            "list": request(customer_client.get, "/api/catalog/products/?search=Product"),
            "detail": request(customer_client.get, f"/api/catalog/products/{product.public_id}/"),
            "categories": request(customer_client.get, "/api/catalog/categories/"),
            "history": request(customer_client.get, "/api/orders/orders/"),
            "order": request(customer_client.get, f"/api/orders/orders/{placed['id']}/"),
            "me": request(customer_client.get, "/api/identity/customers/me/"),
            "login": request(
                customer_client.post, "/api/identity/token/", {"username": fresh.username, "password": password}, format="json"
            ),
            "customers": request(staff_client.get, "/api/identity/customers/"),
        }
        category = CategoryFactory()
        created = request(
            staff_client.post,
            "/api/catalog/products/",
            {"name": "New", "sku": "NEW-1", "price": "1.00", "category": str(category.public_id), "quantity_in_stock": 3},
            format="json",
        )

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 200)
    assert responses["history"].json()["results"][0]["id"] == placed["id"]
    assert created.status_code == 201, created.content


def test_a_hanging_replica_costs_one_connect_timeout_per_retry_interval_not_one_per_request(customer_client, settings):
    settings.REPLICA_RETRY_SECONDS = 3
    product = make_product(quantity=5)
    url = f"/api/catalog/products/{product.public_id}/"

    with silent_port() as port, replica_at(port, connect_timeout=1):
        started = time.monotonic()
        first = request(customer_client.get, url)
        first_took = time.monotonic() - started

        started = time.monotonic()
        following = [request(customer_client.get, url) for _ in range(10)]
        following_took = time.monotonic() - started

    assert first.status_code == 200
    assert 0.9 <= first_took < 3, first_took  # paid the connect timeout once, then served by the primary
    assert [r.status_code for r in following] == [200] * 10
    assert following_took < 1, following_took  # the breaker is open: nobody waits on the replica


def test_reads_return_to_the_replica_once_it_answers_again(customer_client, settings):
    settings.REPLICA_RETRY_SECONDS = 0.5
    product = make_product(quantity=5)
    url = f"/api/catalog/products/{product.public_id}/"
    replica = TcpProxy(target_port=int(connections["default"].settings_dict["PORT"] or 5432))

    with replica_at(replica.port):
        assert request(customer_client.get, url).status_code == 200
        assert breaker.is_open

        replica.start()
        time.sleep(0.6)
        with queries_on("replica") as on_replica:
            assert request(customer_client.get, url).status_code == 200
        assert not breaker.is_open
        assert any("catalog" in query["sql"] for query in on_replica)

        # The replica goes away with live connections: the next request's
        # connection check notices, and reads go to the primary again.
        replica.stop()
        assert request(customer_client.get, url).status_code == 200
        assert breaker.is_open
        with queries_on("replica") as on_replica:
            assert request(customer_client.get, url).status_code == 200
        assert on_replica == []


def test_direct_orders_and_cancels_never_need_the_replica(customer_client):
    product = make_product(quantity=5)

    with replica_at(refused_port()):
        placed = request(
            customer_client.post, "/api/orders/orders/", {"items": [{"product_id": str(product.public_id), "quantity": 2}]}, format="json"
        )
        cancelled = request(customer_client.post, f"/api/orders/orders/{placed.json()['id']}/cancel/")

    assert placed.status_code == 201
    assert cancelled.status_code == 200
    assert Order.objects.get().status == "cancelled"
    assert available(product) == 5
    assert_inventory_consistent(product)


def test_another_customer_is_not_pinned_by_my_writes(customer_client):
    """Control: reads that may lag do go to the replica when it is up."""
    other = bearer_client(UserFactory())
    product = make_product(quantity=5)
    order(customer_client, (product, 1))
    replica = TcpProxy(target_port=int(connections["default"].settings_dict["PORT"] or 5432)).start()
    try:
        with replica_at(replica.port), queries_on("replica") as on_replica:
            assert request(other.get, "/api/catalog/products/?search=Product").status_code == 200
        assert on_replica
    finally:
        replica.stop()
