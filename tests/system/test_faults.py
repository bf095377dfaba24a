"""The fault suite: real things killed or blocked under load.

The API is gunicorn as ``make serve`` runs it, on the suite's own PostgreSQL
pair; Redis servers and workers that get killed are the test's own. Clients
retry as a good client does (same Idempotency-Key, Retry-After). Every
scenario ends with the invariants (tests/system/invariants.py), and reports
what clients saw per phase (printed at the end of the session).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings

from opply.catalog.tests.factories import make_product
from tests.system.cluster import PgPair
from tests.system.invariants import assert_invariants
from tests.system.load import OrderLoad, Tally, customers, with_retries
from tests.system.processes import CeleryWorker, Gunicorn, Reply, pid_owning_local_port

pytestmark = pytest.mark.faults

FINAL = {"201", "409 insufficient_stock", "409 cart_empty"}


@contextmanager
def serving(redis_url: str, workers: int = 3, **env: str) -> Iterator[Gunicorn]:
    api = Gunicorn(redis_url=redis_url, workers=workers, env=env).start()
    try:
        yield api
    finally:
        api.stop()


@contextmanager
def locked(pair: PgPair, table: str, mode: str = "EXCLUSIVE") -> Iterator[None]:
    """``LOCK TABLE`` held by another session (a long migration, a stuck job)."""
    with pair.primary.connect() as locker:
        locker.execute(f"LOCK TABLE {table} IN {mode} MODE")
        try:
            yield
        finally:
            locker.rollback()


def assert_no_server_errors(tally: Tally) -> None:
    every = {key for counter in tally.counts.values() for key in counter}
    assert not [key for key in every if " 500" in key or key.endswith(" 502") or key.endswith(" 504")], tally.counts


def assert_every_request_ended(outcomes) -> None:  # type: ignore[no-untyped-def]
    unfinished = [o for o in outcomes if o.reply.label not in FINAL]
    assert not unfinished, [(o.key, o.reply.label, o.reply.body) for o in unfinished[:5]]


def assert_503s_say_when_to_retry(tally: Tally, replies: list[Reply]) -> None:
    for reply in replies:
        if reply.status == 503:
            assert reply.headers.get("retry-after"), reply.headers
            assert reply.headers.get("content-type", "").startswith("application/problem+json")


def test_redis_killed_and_restarted_empty_under_order_load(own_redis, report):
    plenty = [make_product(quantity=1000), make_product(quantity=1000)]
    scarce = str(make_product(quantity=6).public_id)
    tally = Tally()
    with serving(own_redis.url) as api:
        load = OrderLoad(api, customers(6), [str(p.public_id) for p in plenty], tally).start()
        time.sleep(2)

        tally.phase = "redis down"
        own_redis.kill()
        time.sleep(1)
        # Orders go on on PostgreSQL alone: sell the scarce product out meanwhile.
        token = customers(1)[0]
        sold_out = api.call(
            "POST",
            "/api/orders/orders/",
            token=token,
            body={"items": [{"product_id": scarce, "quantity": 6}]},
            headers={"Idempotency-Key": "sell-out"},
        )
        ready_down = api.call("GET", "/health/ready/")
        time.sleep(2)

        tally.phase = "redis back empty"
        own_redis.start()
        time.sleep(2)
        outcomes = load.stop()
        listed = api.call("GET", "/api/catalog/products/?page_size=100&in_stock=true", token=token)
        ready_after = api.call("GET", "/health/ready/")

    invariants = assert_invariants()
    report.update(scenario="Redis killed (SIGKILL) under order load, restarted empty", **tally.as_report(), invariants=invariants)

    assert ready_down.status == 200, ready_down.body
    assert ready_down.body["checks"]["redis"] == "degraded"
    assert ready_after.body["checks"]["redis"] == "ok"
    assert tally.total("order 201", "redis down") > 0, tally.counts  # orders kept working
    assert tally.total("cart add 503 service_unavailable", "redis down") > 0  # carts said so, and when to retry
    assert tally.total("201", "redis back empty") > 0
    assert sold_out.status == 201, sold_out.body
    assert scarce not in [row["id"] for row in listed.body["results"]]  # what sold out is not listed
    assert_no_server_errors(tally)
    assert_every_request_ended(outcomes)


def test_primary_connections_terminated_under_order_load(pair, report):
    products = [make_product(quantity=1000) for _ in range(3)]
    tally = Tally()
    terminated = 0
    with serving(settings.REDIS_URL) as api:
        load = OrderLoad(api, customers(6), [str(p.public_id) for p in products], tally).start()
        time.sleep(1.5)

        tally.phase = "connections terminated"
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            # Every client backend of the app's database but this one: a
            # failover, a restart, a proxy dropping connections. The stock
            # table is locked for a moment first, so that some of them are
            # caught in the middle of an order's transaction.
            with pair.primary.connect() as killer:
                killer.execute('LOCK TABLE "catalog"."stock" IN EXCLUSIVE MODE')
                time.sleep(0.3)
                terminated += killer.execute(
                    """
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
                    """
                ).fetchone()[0]
                killer.rollback()
            time.sleep(0.2)

        tally.phase = "after"
        time.sleep(1.5)
        outcomes = load.stop()

    invariants = assert_invariants()
    report.update(
        scenario="primary connections terminated (pg_terminate_backend of every app backend, twice a second for 3 s, "
        "some caught mid-transaction) under order load",
        backends_terminated=terminated,
        **tally.as_report(),
        invariants=invariants,
    )

    assert terminated > 0
    assert tally.total("503 database_unavailable", "connections terminated") > 0, tally.counts
    assert_no_server_errors(tally)
    assert_every_request_ended(outcomes)
    assert tally.total("201", "after") > 0


def test_a_table_lock_never_freezes_the_api(pair, report):
    product = make_product(quantity=2000)
    lock_seconds = 10
    lock_timeout = settings.DATABASE_TIMEOUTS["web"]["lock_timeout_ms"] / 1000
    tally = Tally()
    probes: dict[str, list[Reply]] = {"live": [], "cached list": []}
    with serving(settings.REDIS_URL) as api:
        token = customers(1)[0]
        page = "/api/catalog/products/?page_size=10"
        assert api.call("GET", page, token=token).status == 200  # cached from now on
        load = OrderLoad(api, customers(4), [str(product.public_id)], tally, checkout_share=0.0).start()
        stop_probing = threading.Event()

        def probe() -> None:
            while not stop_probing.is_set():
                probes["live"].append(api.call("GET", "/health/live/"))
                probes["cached list"].append(api.call("GET", page, token=token))
                time.sleep(0.1)

        time.sleep(1)
        tally.phase = "stock table locked"
        prober = threading.Thread(target=probe, daemon=True)
        with locked(pair, '"catalog"."stock"'):
            prober.start()
            time.sleep(lock_seconds)
            stop_probing.set()
            prober.join()
        tally.phase = "after"
        time.sleep(1.5)
        outcomes = load.stop()

    invariants = assert_invariants()
    slowest = {name: round(max(r.seconds for r in replies), 2) for name, replies in probes.items()}
    report.update(
        scenario=f"LOCK TABLE catalog.stock (EXCLUSIVE) held {lock_seconds} s under order load, 3 sync workers",
        lock_timeout_s=lock_timeout,
        probes={name: sorted({r.label for r in replies}) for name, replies in probes.items()},
        probes_slowest_s=slowest,
        **tally.as_report(),
        invariants=invariants,
    )

    # Orders blocked by the lock are told to retry after their lock timeout
    # (plus, at worst, the wait for a worker another blocked request held),
    # never hang for the lock's duration.
    assert tally.total("order 503 database_busy", "stock table locked") > 0, tally.counts
    assert tally.slowest["stock table locked: order"] < 2 * lock_timeout + 2.5 < lock_seconds, tally.slowest
    # Liveness and cached pages need no database: they wait at most for a
    # worker to come free (a lock timeout), never for the lock.
    assert {r.status for r in probes["live"]} == {200}
    assert {r.status for r in probes["cached list"]} == {200}
    assert slowest["live"] < 2 * lock_timeout + 2.5, slowest
    assert slowest["cached list"] < 2 * lock_timeout + 2.5, slowest
    assert_no_server_errors(tally)
    assert_every_request_ended(outcomes)
    assert tally.total("201", "after") > 0


def _kill_the_worker_serving(pair: PgPair, api: Gunicorn, *, within: float = 10) -> int:
    """SIGKILL the gunicorn worker whose database session waits on a lock."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = pair.primary.sql(
            "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND client_port > 0"
        )
        if rows:
            pid = pid_owning_local_port(rows[0][0], api.worker_pids())
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.05)
    raise AssertionError("no request blocked on the lock")


@pytest.mark.parametrize("path", ["order", "checkout"])
def test_a_worker_killed_mid_order_and_the_retry_with_the_same_key(pair, report, path):
    product = make_product(quantity=5)
    token = customers(1)[0]
    key = f"killed-{uuid.uuid4().hex[:8]}"
    tally = Tally(phase="worker killed mid-request")
    with serving(settings.REDIS_URL, workers=2, GUNICORN_TIMEOUT="60") as api:
        if path == "checkout":
            assert (
                api.call("POST", "/api/orders/cart/items/", token=token, body={"product_id": str(product.public_id), "quantity": 2}).status
                == 200
            )

            def send() -> Reply:
                return api.call("POST", "/api/orders/cart/checkout/", token=token, headers={"Idempotency-Key": key})
        else:

            def send() -> Reply:
                body = {"items": [{"product_id": str(product.public_id), "quantity": 2}]}
                return api.call("POST", "/api/orders/orders/", token=token, body=body, headers={"Idempotency-Key": key})

        first: list[Reply] = []
        with locked(pair, '"catalog"."stock"'):
            client = threading.Thread(target=lambda: first.append(send()))
            client.start()
            killed = _kill_the_worker_serving(pair, api)
        client.join()
        tally.add(first[0], path)
        killed_at = time.monotonic()

        tally.phase = "retries"
        final = with_retries(send, tally, path, give_up_at=killed_at + 30)
        retried_for = time.monotonic() - killed_at
        replay = send()
        cart = api.call("GET", "/api/orders/cart/", token=token)

    invariants = assert_invariants()
    report.update(
        scenario=f"gunicorn worker SIGKILLed in the middle of a {path} (blocked on a lock), then the client retries with the same key",
        killed_worker=killed,
        first_attempt=first[0].label,
        seconds_until_the_retry_succeeded=round(retried_for, 2),
        **tally.as_report(),
        invariants=invariants,
    )

    assert first[0].status == 0  # the connection died with the worker
    assert final.status == 201, (final.status, final.body)
    assert retried_for < 3, retried_for  # not the 60 s of a lock nobody will release
    assert replay.status == 201 and replay.headers.get("idempotent-replayed") == "true"
    assert replay.body == final.body
    assert [(line["quantity"]) for line in final.body["items"]] == [2]
    assert cart.body["items"] == []
    assert invariants["orders"] == 1


def test_the_celery_worker_killed_while_carts_expire(report, settings):
    product = make_product(quantity=20)
    tally = Tally()
    worker = CeleryWorker(redis_url=settings.REDIS_URL, sweep_seconds=0.5).start()
    try:
        with serving(settings.REDIS_URL, CART_TTL_SECONDS="2", CART_SWEEP_SECONDS="0.5", CELERY_QUEUE=worker.queue) as api:
            ready = _wait_for(lambda: api.call("GET", "/health/ready/"), lambda r: r.body["checks"]["worker"] == "ok", 45)
            assert ready.body["checks"]["worker"] == "ok", (ready.body, worker.log.read_text()[-2000:])

            shoppers = customers(8)
            for token in shoppers:  # 8 carts of 2 units: 16 of 20 held
                tally.add(
                    api.call("POST", "/api/orders/cart/items/", token=token, body={"product_id": str(product.public_id), "quantity": 2}),
                    "cart add",
                )
            tally.phase = "worker killed, carts expiring"
            worker.kill()
            time.sleep(3)  # every cart has expired; nobody sweeps
            buyer = customers(1)[0]
            ten = {"items": [{"product_id": str(product.public_id), "quantity": 10}]}
            blocked = api.call("POST", "/api/orders/orders/", token=buyer, body=ten, headers={"Idempotency-Key": "blocked"})
            tally.add(blocked, "order")
            ready_dead = api.call("GET", "/health/ready/")
            expired_cart = api.call("GET", "/api/orders/cart/", token=shoppers[0])

            tally.phase = "worker restarted"
            restarted = time.monotonic()
            worker.start()
            swept = _wait_for(
                lambda: api.call("POST", "/api/orders/orders/", token=buyer, body=ten, headers={"Idempotency-Key": uuid.uuid4().hex}),
                lambda r: r.status == 201,
                60,
            )
            tally.add(swept, "order")
            recovered_in = time.monotonic() - restarted
            ready_back = _wait_for(lambda: api.call("GET", "/health/ready/"), lambda r: r.body["checks"]["worker"] == "ok", 30)
    finally:
        worker.cleanup()

    invariants = assert_invariants()
    report.update(
        scenario="Celery worker (with beat) SIGKILLed with 8 carts expiring; restarted",
        worker_ready_while_dead=ready_dead.body["checks"]["worker"],
        worker_impact=ready_dead.body["details"]["worker"].get("impact"),
        seconds_until_stock_came_back=round(recovered_in, 1),
        **tally.as_report(),
        invariants=invariants,
    )

    assert ready_dead.status == 200
    assert ready_dead.body["checks"]["worker"] == "degraded"
    assert ready_dead.body["details"]["worker"]["consumers"] == 0
    assert expired_cart.body["items"] == []  # an expired cart reads as empty at once
    assert blocked.status == 409  # but its units stay held until a sweeper runs
    assert swept.status == 201
    assert ready_back.body["checks"]["worker"] == "ok"
    assert invariants["holds_swept"] == 0  # the restarted worker had swept them all


def _wait_for(call, done, seconds: float) -> Reply:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        reply = call()
        if done(reply) or time.monotonic() >= deadline:
            return reply
        time.sleep(0.25)
