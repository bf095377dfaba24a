"""The metrics move with what the service does, and /metrics is not public."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from celery import shared_task
from django.db import connection, connections
from django.db.models import F
from kombu import Connection
from rest_framework.test import APIClient

from opply.catalog import inventory, tasks
from opply.catalog.models import Stock
from opply.catalog.tests.factories import make_product
from opply.common.observability import metrics
from opply.common.testing import TcpProxy, assert_problem, replica_at
from opply.common.tests.metrics_helpers import Delta, value
from opply.common.tests.test_replica_down import request as replica_request
from opply.orders.tests.helpers import available, order
from opply.orders.tests.test_cart import add, expire_cart

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

PUBLIC_ADDRESS = "203.0.113.9"  # TEST-NET-3: never an internal address


def scrape(client: APIClient | None = None, **extra: str):  # type: ignore[no-untyped-def]
    return (client or APIClient()).get("/metrics", **extra)


# --- Business metrics ----------------------------------------------------------------------


def test_a_placed_order_moves_the_order_request_and_dependency_metrics(customer_client):
    product = make_product(quantity=5)

    with Delta() as delta:
        response = order(customer_client, (product, 2))

    assert response.status_code == 201, response.content
    assert delta("opply_orders_placed_total", fulfilment="sync") == 1
    assert delta("opply_order_transitions_total", status="confirmed") == 1
    assert delta("opply_http_requests_total", route="orders:order-list", method="POST", status="201") == 1
    assert delta("opply_http_request_duration_seconds_count", route="orders:order-list", method="POST") == 1
    assert delta("opply_db_query_duration_seconds_count", database="primary") >= 3  # order + lines, ledger, stock
    assert delta("opply_redis_command_duration_seconds_count", command="EVALSHA") >= 2  # reserve, then commit the hold
    assert delta("opply_reservations_refused_total", source="order", decided_by="store") == 0


def test_a_cancelled_order_is_a_transition(customer_client):
    product = make_product(quantity=5)
    placed = order(customer_client, (product, 1)).json()

    with Delta() as delta:
        response = customer_client.post(f"/api/orders/orders/{placed['id']}/cancel/")

    assert response.status_code == 200, response.content
    assert delta("opply_order_transitions_total", status="cancelled") == 1
    assert delta("opply_orders_placed_total", fulfilment="sync") == 0


def test_a_reservation_refused_by_the_store_in_a_cart_and_in_an_order(customer_client):
    product = make_product(quantity=2)

    with Delta() as delta:
        assert_problem(add(customer_client, product, 3), 409, "insufficient_stock")
        assert_problem(order(customer_client, (product, 3)), 409, "insufficient_stock")

    assert delta("opply_reservations_refused_total", source="cart", decided_by="store") == 1
    assert delta("opply_reservations_refused_total", source="order", decided_by="store") == 1
    assert delta("opply_orders_placed_total", fulfilment="sync") == 0
    assert delta("opply_http_requests_total", route="orders:cart-items", method="POST", status="409") == 1


def test_a_reservation_refused_by_postgresql_is_told_apart(customer_client):
    product = make_product(quantity=5)
    assert available(product) == 5
    Stock.objects.filter(product=product).update(on_hand=1, version=F("version") + 1)  # a write-off Redis never heard of

    with Delta() as delta:
        assert_problem(order(customer_client, (product, 3)), 409, "insufficient_stock")

    assert delta("opply_reservations_refused_total", source="order", decided_by="database") == 1
    assert delta("opply_reservations_refused_total", source="order", decided_by="store") == 0


def test_an_idempotent_replay_is_counted(customer_client):
    product = make_product(quantity=5)
    assert order(customer_client, (product, 1), key="k-1").status_code == 201

    with Delta() as delta:
        replay = order(customer_client, (product, 1), key="k-1")

    assert replay["Idempotent-Replayed"] == "true"
    assert delta("opply_idempotent_replays_total", status="201") == 1
    assert delta("opply_orders_placed_total", fulfilment="sync") == 0


def test_an_expired_cart_swept_shows_up_with_the_units_it_gave_back(customer_client, customer):
    product = make_product(quantity=10)
    add(customer_client, product, 4)
    expire_cart(customer)

    with Delta() as delta:
        assert tasks.release_expired_holds() == 1

    assert delta("opply_sweeper_holds_released_total", holder="cart") == 1
    assert delta("opply_sweeper_units_released_total", holder="cart") == 4
    assert delta("opply_sweeper_runs_total") == 1
    assert time.time() - value("opply_sweeper_last_run_timestamp_seconds") < 5
    assert available(product) == 10

    with Delta() as delta:
        assert tasks.release_expired_holds() == 0  # nothing left: a pass, no release
    assert delta("opply_sweeper_runs_total") == 1
    assert delta("opply_sweeper_holds_released_total", holder="cart") == 0


@pytest.fixture
def quick_confirmation(monkeypatch):
    monkeypatch.setattr(tasks, "DRIFT_CONFIRM_SECONDS", 0.01)


def test_drift_found_by_the_periodic_reconciliation(customer_client, quick_confirmation):
    product = make_product(quantity=10)
    add(customer_client, product, 2)
    inventory.set_reserved(product.id, 5)  # a counter no hold accounts for

    with Delta() as delta:
        assert tasks.check_availability_drift() == 1

    assert delta("opply_inventory_drift_found_total", field="reserved") == 1
    assert delta("opply_inventory_drift_checks_total") == 1
    assert value("opply_inventory_drift_values", field="reserved") == 1
    assert value("opply_inventory_drift_values", field="on_hand") == 0

    inventory.set_reserved(product.id, 2)  # repaired
    assert tasks.check_availability_drift() == 0
    assert value("opply_inventory_drift_values", field="reserved") == 0


def test_a_change_in_flight_between_the_two_passes_is_not_drift(customer_client, monkeypatch):
    product = make_product(quantity=10)
    add(customer_client, product, 2)
    inventory.set_reserved(product.id, 3)
    # Between the passes the counter moves (as a reservation in flight would).
    monkeypatch.setattr(tasks.time, "sleep", lambda seconds: inventory.set_reserved(product.id, 2))

    with Delta() as delta:
        assert tasks.check_availability_drift() == 0

    assert delta("opply_inventory_drift_found_total", field="reserved") == 0
    assert value("opply_inventory_drift_values", field="reserved") == 0


def test_replica_queries_are_labelled_replica():
    # Threads use real connections of their own (the test's thread shares the primary's).
    def query() -> None:
        try:
            with connections["replica"].cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            connections.close_all()

    with Delta() as delta:
        thread = threading.Thread(target=query)
        thread.start()
        thread.join()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    # (a new connection also runs its set-up statements)
    assert delta("opply_db_query_duration_seconds_count", database="replica") >= 1
    assert delta("opply_db_query_duration_seconds_count", database="primary") == 1


def test_the_replica_hooks_move_their_metrics():
    with Delta() as delta:
        metrics.replica_fallback()
        metrics.replica_circuit(is_open=True)
    assert delta("opply_replica_fallbacks_total") == 1
    assert value("opply_replica_circuit_open") == 1
    metrics.replica_circuit(is_open=False)
    assert value("opply_replica_circuit_open") == 0


def test_the_hooks_for_asynchronous_fulfilment_move_their_metrics():
    with Delta() as delta:
        metrics.order_placed(fulfilment="async")
        metrics.order_transition("pending")
        metrics.order_transition("rejected")
        metrics.order_transition("shipped")
        metrics.observe_fulfilment_lag(1.5)
    assert delta("opply_orders_placed_total", fulfilment="async") == 1
    assert delta("opply_order_transitions_total", status="pending") == 1
    assert delta("opply_order_transitions_total", status="rejected") == 1
    assert delta("opply_order_transitions_total", status="shipped") == 1
    assert delta("opply_fulfilment_lag_seconds_count") == 1
    assert delta("opply_fulfilment_lag_seconds_bucket", le="2.5") == 1
    assert delta("opply_fulfilment_lag_seconds_bucket", le="1.0") == 0


# --- Request labels ------------------------------------------------------------------------


def test_routes_are_named_never_raw_paths(customer_client):
    with Delta() as delta:
        customer_client.get(f"/api/orders/orders/{uuid.uuid4()}/")
        customer_client.get("/no/such/path/")
        customer_client.generic("BREW", "/health/live/")

    assert delta("opply_http_requests_total", route="orders:order-detail", method="GET", status="404") == 1
    assert delta("opply_http_requests_total", route="unmatched", method="GET", status="404") == 1
    # A method a client invents is not a new series, nor a new cache entry.
    assert delta("opply_http_requests_total", route="health-live", method="other", status="405") == 1
    assert not any(method == "BREW" for _, method, _ in metrics._request_children)


# --- Who may read /metrics ---------------------------------------------------------------------


def test_metrics_are_refused_to_the_public():
    body = assert_problem(scrape(REMOTE_ADDR=PUBLIC_ADDRESS), 403, "metrics_forbidden")
    assert "opply_" not in str(body)


def test_metrics_are_served_to_the_internal_network_in_the_prometheus_format():
    with Delta() as delta:
        response = scrape(REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    assert "# TYPE opply_http_requests_total counter" in text
    assert "opply_orders_placed_total" in text
    # Scrapes are not requests of the API: they stay out of its figures.
    assert delta("opply_http_requests_total", route="unmatched", method="GET", status="200") == 0


def test_scrapers_may_address_the_instance_by_a_name_outside_allowed_hosts():
    """Prometheus scrapes api:8000 or a task's IP; the API still refuses that Host for anything else."""
    assert scrape(HTTP_HOST="api:8000").status_code == 200
    assert APIClient().get("/health/ready/", HTTP_HOST="api:8000").status_code == 400


def test_a_forwarded_request_is_judged_by_the_client_the_proxy_names(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # Through nginx / the load balancer (private address) from the internet: refused.
    assert_problem(scrape(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=PUBLIC_ADDRESS), 403, "metrics_forbidden")
    # A forged first hop does not help: the proxy appends the real address.
    assert_problem(scrape(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=f"10.9.9.9, {PUBLIC_ADDRESS}"), 403)
    # From inside, through the proxy: allowed.
    assert scrape(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="10.7.0.1").status_code == 200


def test_a_forwarded_request_with_no_trusted_proxy_is_refused(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    # A proxy nobody declared sits in front: its private address proves nothing.
    assert_problem(scrape(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="10.7.0.1"), 403, "metrics_forbidden")


def test_the_bearer_token_opens_metrics_from_anywhere(settings):
    settings.METRICS_BEARER_TOKEN = "a-long-random-metrics-token"
    assert scrape(REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION="Bearer a-long-random-metrics-token").status_code == 200
    assert_problem(scrape(REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION="Bearer a-long-random-metrics-tokeN"), 403)
    assert_problem(scrape(REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION="Basic a-long-random-metrics-token"), 403)


def test_an_empty_network_list_means_token_only(settings):
    settings.METRICS_ALLOWED_NETWORKS = []
    assert_problem(scrape(), 403, "metrics_forbidden")  # even from loopback


def test_metrics_are_read_only():
    assert_problem(APIClient().post("/metrics"), 405, "method_not_allowed")


# --- Scrape-time collectors ------------------------------------------------------------------


def test_queue_depth_is_read_from_the_broker(settings):
    queue = f"opply-test-metrics-{uuid.uuid4().hex[:8]}"
    settings.METRICS_CELERY_QUEUES = [queue]
    with Connection(settings.CELERY_BROKER_URL) as broker:
        simple = broker.SimpleQueue(queue)
        try:
            for n in range(3):
                simple.put({"n": n})
            text = scrape().content.decode()
        finally:
            simple.queue.delete()
            simple.queue.exchange.delete()
            simple.close()

    assert f'opply_celery_queue_messages{{queue="{queue}"}} 3.0' in text
    assert f'opply_celery_queue_consumers{{queue="{queue}"}} 0.0' in text
    assert "opply_broker_up 1.0" in text


def test_a_broker_that_does_not_answer_does_not_break_the_scrape(settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    response = scrape()
    assert response.status_code == 200
    assert "opply_broker_up 0.0" in response.content.decode()


def test_the_outbox_backlog_counts_unsent_events_and_the_oldest_ones_age():
    assert "opply_outbox_backlog_messages 0.0" in scrape().content.decode()

    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO "orders"."outbox" (topic, payload, created_at, sent_at) VALUES
               ('order.placed', '{}', now() - interval '90 seconds', NULL),
               ('order.placed', '{}', now() - interval '10 seconds', NULL),
               ('order.placed', '{}', now() - interval '1 hour', now())"""
        )
    text = scrape().content.decode()

    assert "opply_outbox_backlog_messages 2.0" in text
    oldest = float(next(line for line in text.splitlines() if line.startswith("opply_outbox_oldest_unsent_age_seconds ")).split()[1])
    assert 85 < oldest < 150


# --- Celery tasks ------------------------------------------------------------------------------


@shared_task(name="opply.tests.metrics_explode")
def _explode() -> None:
    raise ValueError("boom")


@shared_task(bind=True, name="opply.tests.metrics_retry", max_retries=1)
def _retry(self) -> None:  # type: ignore[no-untyped-def]
    raise self.retry(countdown=60)


def test_task_outcomes_are_counted_with_their_time():
    with Delta() as delta:
        tasks.release_expired_holds.apply()
        _explode.apply()
        _retry.apply()

    sweeper = "opply.catalog.tasks.release_expired_holds"
    assert delta("opply_celery_tasks_total", task=sweeper, outcome="succeeded") == 1
    assert delta("opply_celery_task_duration_seconds_count", task=sweeper) == 1
    assert delta("opply_celery_tasks_total", task="opply.tests.metrics_explode", outcome="failed") == 1
    assert delta("opply_celery_tasks_total", task="opply.tests.metrics_retry", outcome="retried") == 1


# --- The replica's circuit breaker (a real TCP endpoint that refuses, then forwards) --------------


def test_a_replica_down_shows_as_fallbacks_and_an_open_circuit(customer_client, settings):
    settings.REPLICA_RETRY_SECONDS = 0.5
    product = make_product(quantity=5)
    url = f"/api/catalog/products/{product.public_id}/"
    replica = TcpProxy(target_port=int(connections["default"].settings_dict["PORT"] or 5432))

    with replica_at(replica.port):
        with Delta() as delta:
            assert replica_request(customer_client.get, url).status_code == 200
        assert delta("opply_replica_fallbacks_total") >= 1
        assert value("opply_replica_circuit_open") == 1

        replica.start()
        time.sleep(0.6)
        with Delta() as delta:
            assert replica_request(customer_client.get, url).status_code == 200
        assert delta("opply_replica_fallbacks_total") == 0
        assert value("opply_replica_circuit_open") == 0
        replica.stop()
