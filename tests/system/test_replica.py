"""The replica suite: a real primary and a pg_basebackup hot standby.

Reads really go to the standby (counted there with pg_stat_statements);
everything on a write path, and what a client must read back at once, goes
to the primary however far behind the standby is (replay paused); lag is
measured and reported, and past the threshold reads leave the standby;
with the standby stopped every endpoint keeps working, and reads return to
it once it is back.
"""

from __future__ import annotations

import time

import pytest
from django.db import close_old_connections

from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.common.db.replica import breaker
from opply.identity.testing import bearer_client
from opply.orders.models import Order
from tests.system.cluster import PgCluster, PgPair

pytestmark = pytest.mark.replica

PRODUCT_READS = '%FROM "catalog"."product"%'


def request(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    """One request as the server runs it: connections are checked at its start."""
    close_old_connections()
    return call(*args, **kwargs)


def reset_statement_counts(pair: PgPair) -> None:
    for cluster in (pair.primary, pair.standby):
        cluster.sql("SELECT pg_stat_statements_reset()")


def calls(cluster: PgCluster, pattern: str) -> int:
    """How many statements matching ``pattern`` this cluster executed on the app's database."""
    rows = cluster.sql(
        """
        SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE %s
        """,
        [pattern],
    )
    return int(rows[0][0])


def product_body(category, sku: str) -> dict:  # type: ignore[no-untyped-def]
    return {"name": f"Product {sku}", "sku": sku, "price": "4.20", "category": str(category.public_id), "quantity_in_stock": 10}


# --- Routing ------------------------------------------------------------------------


def test_reads_are_served_by_the_standby_and_writes_by_the_primary(pair, customer_client):
    products = [make_product(quantity=5) for _ in range(3)]
    pair.wait_for_replay()
    reset_statement_counts(pair)

    for term in ("Product", "SKU", "1"):
        assert request(customer_client.get, f"/api/catalog/products/?search={term}").status_code == 200

    assert calls(pair.standby, PRODUCT_READS) >= 3
    assert calls(pair.primary, PRODUCT_READS) == 0

    reset_statement_counts(pair)
    placed = request(
        customer_client.post, "/api/orders/orders/", {"items": [{"product_id": str(products[0].public_id), "quantity": 1}]}, format="json"
    )

    assert placed.status_code == 201
    assert calls(pair.primary, PRODUCT_READS) >= 1
    assert calls(pair.standby, PRODUCT_READS) == 0


# --- Replay paused: the standby lags as far as we like ---------------------------------


def test_a_customer_who_just_registered_logs_in_refreshes_and_reads_their_account(pair, api_client, password):
    pair.pause_replay()
    body = {"username": "fresh", "password": password, "email": "fresh@example.com"}

    registered = request(api_client.post, "/api/identity/register/", body, format="json")
    login = request(api_client.post, "/api/identity/token/", {"username": "fresh", "password": password}, format="json")
    refreshed = request(api_client.post, "/api/identity/token/refresh/", {"refresh": login.json().get("refresh", "")}, format="json")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json().get('access')}")
    me = request(api_client.get, "/api/identity/customers/me/")

    assert registered.status_code == 201, registered.content
    assert login.status_code == 200, login.content
    assert refreshed.status_code == 200, refreshed.content
    assert me.status_code == 200, me.content


def test_own_orders_stay_readable_after_the_pin_window_however_far_behind_the_standby_is(pair, customer_client, settings):
    settings.REPLICA_PIN_SECONDS = 1
    settings.REPLICA_MAX_LAG_SECONDS = 3600  # only read-your-writes is under test here
    product = make_product(quantity=5)
    pair.wait_for_replay()
    pair.pause_replay()

    placed = request(
        customer_client.post, "/api/orders/orders/", {"items": [{"product_id": str(product.public_id), "quantity": 2}]}, format="json"
    )
    time.sleep(1.2)  # the pin has expired
    history = request(customer_client.get, "/api/orders/orders/")
    detail = request(customer_client.get, f"/api/orders/orders/{placed.json()['id']}/")
    cancelled = request(customer_client.post, f"/api/orders/orders/{placed.json()['id']}/cancel/")

    assert placed.status_code == 201
    assert [row["id"] for row in history.json()["results"]] == [placed.json()["id"]]
    assert detail.status_code == 200
    assert cancelled.status_code == 200, cancelled.content
    # The control: the catalog, which may lag, is read from the standby.
    other = bearer_client(make_customer())
    assert request(other.get, "/api/catalog/products/?search=no-such-product").status_code == 200
    assert calls(pair.standby, PRODUCT_READS) >= 1


def make_customer():  # type: ignore[no-untyped-def]
    from opply.identity.tests.factories import UserFactory

    return UserFactory()


def test_staff_create_a_product_in_a_category_a_colleague_made_a_moment_before(pair, staff, settings):
    """The reference is validated on the primary: no read-your-writes pin
    helps here (another staff member wrote it)."""
    from opply.identity.tests.factories import UserFactory

    settings.REPLICA_MAX_LAG_SECONDS = 3600
    colleague = bearer_client(UserFactory(is_staff=True))
    client = bearer_client(staff)
    pair.pause_replay()

    category = request(colleague.post, "/api/catalog/categories/", {"name": "Fresh", "slug": "fresh"}, format="json")
    body = {"name": "Fresh bread", "sku": "FR-1", "price": "4.20", "category": category.json()["id"], "quantity_in_stock": 10}
    product = request(client.post, "/api/catalog/products/", body, format="json")
    stock = request(colleague.post, f"/api/catalog/products/{product.json().get('id')}/stock/", {"delta": 5}, format="json")

    assert category.status_code == 201, category.content
    assert product.status_code == 201, product.content
    assert stock.status_code == 200, stock.content
    assert stock.json()["on_hand"] == 15


def test_checkout_never_drops_a_line_the_standby_does_not_know_yet(pair, customer_client, settings):
    settings.REPLICA_MAX_LAG_SECONDS = 3600
    known = make_product(quantity=5, price="1.00")
    pair.wait_for_replay()
    pair.pause_replay()
    new = make_product(quantity=5, price="2.50")  # not on the standby

    added = [
        request(customer_client.post, "/api/orders/cart/items/", {"product_id": str(p.public_id), "quantity": 2}, format="json")
        for p in (known, new)
    ]
    cart = request(customer_client.get, "/api/orders/cart/")
    checkout = request(customer_client.post, "/api/orders/cart/checkout/", HTTP_IDEMPOTENCY_KEY="paused-1")

    assert [r.status_code for r in added] == [200, 200]
    assert checkout.status_code == 201, checkout.content
    assert sorted(item["product_id"] for item in checkout.json()["items"]) == sorted([str(known.public_id), str(new.public_id)])
    assert checkout.json()["total"] == "7.00"
    assert len(cart.json()["items"]) == 2


def test_lag_is_measured_and_reported_and_past_the_threshold_reads_leave_the_standby(pair, customer_client, api_client, settings):
    settings.REPLICA_MAX_LAG_SECONDS = 1
    settings.REPLICA_LAG_CHECK_SECONDS = 0
    settings.REPLICA_RETRY_SECONDS = 0
    pair.wait_for_replay()
    ready = request(api_client.get, "/health/ready/").json()
    assert ready["checks"]["replica"] == "ok"
    assert ready["details"]["replica"]["lag_seconds"] < 1

    pair.pause_replay()
    product = make_product(quantity=5)  # a write the standby does not replay
    time.sleep(1.5)
    lagging = request(api_client.get, "/health/ready/")
    detail = request(customer_client.get, f"/api/catalog/products/{product.public_id}/")

    assert lagging.status_code == 200
    assert lagging.json()["checks"]["replica"] == "degraded"
    assert lagging.json()["details"]["replica"]["lag_seconds"] > 1
    assert lagging.json()["details"]["replica"]["max_lag_seconds"] == 1
    assert lagging.json()["details"]["replica"]["reads"] == "primary"
    assert detail.status_code == 200, detail.content  # from the primary: the standby does not have it

    pair.resume_replay()
    pair.wait_for_replay()
    caught_up = request(api_client.get, "/health/ready/").json()
    reset_statement_counts(pair)
    assert request(customer_client.get, "/api/catalog/products/?search=Product").status_code == 200

    assert caught_up["checks"]["replica"] == "ok"
    assert calls(pair.standby, PRODUCT_READS) >= 1


# --- The standby stopped and restarted ------------------------------------------------------


def test_with_the_standby_stopped_every_endpoint_is_served_by_the_primary(pair, customer_client, customer, staff, password, api_client):
    product = make_product(quantity=10)
    category = CategoryFactory()
    placed = request(
        customer_client.post, "/api/orders/orders/", {"items": [{"product_id": str(product.public_id), "quantity": 1}]}, format="json"
    )
    pair.wait_for_replay()
    assert request(customer_client.get, "/api/catalog/products/").status_code == 200  # a connection to the standby is open

    pair.standby.stop()
    started = time.monotonic()
    statuses = {
        "list": request(customer_client.get, "/api/catalog/products/?search=Prod").status_code,
        "detail": request(customer_client.get, f"/api/catalog/products/{product.public_id}/").status_code,
        "categories": request(customer_client.get, "/api/catalog/categories/").status_code,
        "history": request(customer_client.get, "/api/orders/orders/").status_code,
        "order": request(customer_client.get, f"/api/orders/orders/{placed.json()['id']}/").status_code,
        "me": request(customer_client.get, "/api/identity/customers/me/").status_code,
        "login": request(
            api_client.post, "/api/identity/token/", {"username": customer.username, "password": password}, format="json"
        ).status_code,
        "staff create": request(
            bearer_client(staff).post, "/api/catalog/products/", product_body(category, "DOWN-1"), format="json"
        ).status_code,
        "cart add": request(
            customer_client.post, "/api/orders/cart/items/", {"product_id": str(product.public_id), "quantity": 2}, format="json"
        ).status_code,
        "checkout": request(customer_client.post, "/api/orders/cart/checkout/", HTTP_IDEMPOTENCY_KEY="down-1").status_code,
    }
    took = time.monotonic() - started
    ready = request(api_client.get, "/health/ready/")

    assert statuses == {**dict.fromkeys(statuses, 200), "staff create": 201, "checkout": 201}, statuses
    assert took < 5, took  # no request waited on the standby
    assert ready.status_code == 200
    assert ready.json()["checks"]["replica"] == "degraded"
    assert Order.objects.count() == 2
    assert Order.objects.order_by("-id").first().lines.get().quantity == 2  # the checkout ordered the cart's 2 units, once


def test_reads_return_to_the_standby_after_it_restarts(pair, customer_client, settings):
    settings.REPLICA_RETRY_SECONDS = 0.5
    product = make_product(quantity=10)
    pair.wait_for_replay()
    url = f"/api/catalog/products/{product.public_id}/"

    pair.standby.stop()
    assert request(customer_client.get, url).status_code == 200
    assert breaker.is_open

    pair.standby.start()
    pair.wait_for_replay()
    time.sleep(0.6)
    reset_statement_counts(pair)
    assert request(customer_client.get, url).status_code == 200

    assert not breaker.is_open
    assert calls(pair.standby, PRODUCT_READS) >= 1
    assert calls(pair.primary, PRODUCT_READS) == 0
