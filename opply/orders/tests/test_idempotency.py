import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from opply.catalog.tests.factories import make_product
from opply.common.redis import get_redis
from opply.common.testing import assert_problem, run_concurrently
from opply.identity.testing import bearer_client
from opply.orders import idempotency
from opply.orders.models import IdempotencyRecord, Order
from opply.orders.tests.helpers import assert_inventory_consistent, available, live_holds, on_hand, order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def test_a_retry_replays_the_stored_response_and_orders_once(customer_client):
    product = make_product(quantity=10)

    first = order(customer_client, (product, 2), key="checkout-42")
    retry = order(customer_client, (product, 2), key="checkout-42")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Order.objects.count() == 1
    assert on_hand(product) == 8


def test_the_same_key_with_another_body_is_422(customer_client):
    product = make_product(quantity=10)
    order(customer_client, (product, 2), key="k1")

    assert_problem(order(customer_client, (product, 3), key="k1"), 422, "idempotency_key_reused")
    assert Order.objects.count() == 1
    assert on_hand(product) == 8


def test_the_same_key_while_the_first_request_runs_is_409(customer_client, customer):
    product = make_product(quantity=10)
    body = {"items": [{"product_id": str(product.public_id), "quantity": 1}]}
    fingerprint = idempotency.fingerprint("POST", "/api/orders/orders/", body)
    idempotency.claim(customer_id=customer.public_id, key="busy", request_fingerprint=fingerprint)  # a first request, still running

    response = customer_client.post("/api/orders/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="busy")

    assert_problem(response, 409, "idempotency_in_progress")
    assert response["Retry-After"]
    assert not Order.objects.exists()


def test_a_claim_whose_request_died_is_taken_over(customer_client, customer):
    product = make_product(quantity=10)
    body = {"items": [{"product_id": str(product.public_id), "quantity": 1}]}
    fingerprint = idempotency.fingerprint("POST", "/api/orders/orders/", body)
    dead = idempotency.claim(customer_id=customer.public_id, key="died", request_fingerprint=fingerprint)
    get_redis().delete(dead.lock_key)  # Redis lost the lock

    response = customer_client.post("/api/orders/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="died")

    assert response.status_code == 201
    assert Order.objects.count() == 1


def test_with_the_lock_lost_the_database_still_allows_one_order_and_replays_it(customer_client):
    """Redis restarted between two tries: the unique constraint decides."""
    product = make_product(quantity=10)
    first = order(customer_client, (product, 2), key="k-lost")
    get_redis().flushdb()

    retry = order(customer_client, (product, 2), key="k-lost")

    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Order.objects.count() == 1
    assert on_hand(product) == 8
    assert live_holds() == []


def test_with_redis_down_a_retry_is_still_replayed(customer_client, redis_down):
    product = make_product(quantity=10)

    first = order(customer_client, (product, 2), key="k-down")
    retry = order(customer_client, (product, 2), key="k-down")
    other = order(customer_client, (product, 3), key="k-down")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert_problem(other, 422, "idempotency_key_reused")
    assert Order.objects.count() == 1


def test_keys_belong_to_one_customer(customer_client, customer):
    from opply.identity.tests.factories import UserFactory

    product = make_product(quantity=10)
    other = bearer_client(UserFactory())

    mine = order(customer_client, (product, 1), key="shared-key")
    theirs = order(other, (product, 1), key="shared-key")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert not theirs.has_header("Idempotent-Replayed")


def test_an_insufficient_stock_answer_is_replayed_even_after_a_restock(customer_client, staff_client):
    product = make_product(quantity=1)

    first = order(customer_client, (product, 5), key="big-order")
    staff_client.post(f"/api/catalog/products/{product.public_id}/stock/", {"delta": 10}, format="json")
    retry = order(customer_client, (product, 5), key="big-order")

    assert_problem(first, 409, "insufficient_stock")
    assert_problem(retry, 409, "insufficient_stock")
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert not Order.objects.exists()


def test_bad_input_is_not_stored_so_the_key_can_be_used_again(customer_client):
    product = make_product(quantity=10)

    bad = customer_client.post("/api/orders/orders/", {"items": []}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    good = order(customer_client, (product, 1), key="k")

    assert_problem(bad, 400)
    assert good.status_code == 201
    assert not good.has_header("Idempotent-Replayed")


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve"])
def test_malformed_keys_are_400(customer_client, key):
    product = make_product(quantity=10)

    response = order(customer_client, (product, 1), key=key)

    assert "Idempotency-Key" in assert_problem(response, 400, "validation_error")["errors"]
    assert not Order.objects.exists()
    assert live_holds() == []


def test_keys_expire_after_24_hours(customer_client):
    product = make_product(quantity=10)
    order(customer_client, (product, 1), key="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    get_redis().flushdb()  # the lock's 24 hours have passed too

    again = order(customer_client, (product, 1), key="old")

    assert again.status_code == 201
    assert not again.has_header("Idempotent-Replayed")
    assert Order.objects.count() == 2


def test_cleanup_deletes_records_older_than_24_hours(customer_client):
    product = make_product(quantity=10)
    order(customer_client, (product, 1), key="old")
    order(customer_client, (product, 1), key="new")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    call_command("idempotency_cleanup")

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_concurrent_retries_with_one_key_create_exactly_one_order(customer):
    product = make_product(quantity=100)

    responses = run_concurrently(12, lambda i: order(bearer_client(customer), (product, 1), key="same-key"))

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    assert Order.objects.count() == 1
    assert on_hand(product) == 99
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    assert all(r.json()["code"] == "idempotency_in_progress" for r in responses if r.status_code == 409)
    assert all(r.json()["id"] == next(iter(ids)) for r in responses if r.status_code == 201)
    assert live_holds() == []


# --- A request whose process dies: retries are not blocked for long ----------------

ROOT = Path(__file__).resolve().parents[3]

# A process that claims a key and then works on it (sleeps) until killed.
CLAIM_AND_WORK = """
import sys, time, uuid, django
django.setup()
from opply.orders import idempotency
claim = idempotency.claim(customer_id=uuid.UUID(sys.argv[1]), key=sys.argv[2], request_fingerprint=sys.argv[3])
print(type(claim).__name__, flush=True)
time.sleep(120)
"""

# A process that checks out a cart and dies right after its commit, before it
# can tell Redis the request is done.
CHECK_OUT_AND_DIE = """
import os, sys, uuid, django
django.setup()
from opply.orders import cart, idempotency
idempotency.Claim._mark_done = lambda self: os._exit(137)
customer = uuid.UUID(sys.argv[1])
claim = idempotency.claim(customer_id=customer, key=sys.argv[2], request_fingerprint=sys.argv[3])
print(type(claim).__name__, flush=True)
cart.cart_checkout(customer_id=customer, idempotency=claim)
"""


@contextmanager
def other_process(code: str, *args: str, **env: str) -> Iterator[subprocess.Popen]:
    """Run ``code`` in another Python process on the test database and Redis."""
    db = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TEST_REDIS_URL": settings.REDIS_URL,
        **env,
    }
    process = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "Claim"
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def _order_body(product) -> dict:  # type: ignore[no-untyped-def]
    return {"items": [{"product_id": str(product.public_id), "quantity": 1}]}


@pytest.mark.slow
def test_a_retry_goes_ahead_at_once_when_the_process_that_held_the_key_was_killed(customer_client, customer):
    product = make_product(quantity=10)
    body = _order_body(product)
    fingerprint = idempotency.fingerprint("POST", "/api/orders/orders/", body)

    with other_process(CLAIM_AND_WORK, str(customer.public_id), "k-killed", fingerprint) as owner:
        busy = customer_client.post("/api/orders/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-killed")
        assert_problem(busy, 409, "idempotency_in_progress")
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)

        started = time.monotonic()
        retry = customer_client.post("/api/orders/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-killed")
        took = time.monotonic() - started

    assert retry.status_code == 201, retry.content
    assert took < 1
    assert Order.objects.count() == 1
    assert on_hand(product) == 9
    assert live_holds() == []


@pytest.mark.slow
def test_a_retry_goes_ahead_once_the_lease_of_a_request_that_still_runs_is_over(customer_client, customer):
    product = make_product(quantity=10)
    body = _order_body(product)
    fingerprint = idempotency.fingerprint("POST", "/api/orders/orders/", body)

    with other_process(CLAIM_AND_WORK, str(customer.public_id), "k-slow", fingerprint, IDEMPOTENCY_LEASE_SECONDS="1"):
        busy = customer_client.post("/api/orders/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-slow")
        assert_problem(busy, 409, "idempotency_in_progress")
        assert busy["Retry-After"] == "1"
        time.sleep(1.1)
        retry = customer_client.post("/api/orders/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-slow")

    assert retry.status_code == 201, retry.content
    assert Order.objects.count() == 1


@pytest.mark.slow
def test_a_checkout_whose_process_died_right_after_committing_is_replayed_not_refused(customer_client, customer):
    from opply.orders.tests.test_cart import CART, CHECKOUT, add

    product = make_product(quantity=10)
    add(customer_client, product, 3)
    fingerprint = idempotency.fingerprint("POST", CHECKOUT, {})

    with other_process(CHECK_OUT_AND_DIE, str(customer.public_id), "co-died", fingerprint) as owner:
        assert owner.wait(timeout=30) == 137  # committed, then died before marking the key done
    assert Order.objects.count() == 1

    retry = customer_client.post(CHECKOUT, HTTP_IDEMPOTENCY_KEY="co-died")

    assert retry.status_code == 201, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == str(Order.objects.get().public_id)
    assert customer_client.get(CART).json()["items"] == []
    assert Order.objects.count() == 1
    assert on_hand(product) == 7


# A process that dies inside the order's transaction, after reserving (a
# direct order: argv "order <product> <quantity>") or after taking the cart
# over (argv "checkout").
DIE_MID_TRANSACTION = """
import os, sys, uuid, django
django.setup()
from opply.catalog import reservations
from opply.orders import cart, idempotency, services
reservations.apply_stock_movements = lambda *args, **kwargs: os._exit(137)
customer = uuid.UUID(sys.argv[1])
claim = idempotency.claim(customer_id=customer, key=sys.argv[2], request_fingerprint=sys.argv[3])
print(type(claim).__name__, flush=True)
if sys.argv[4] == "checkout":
    cart.cart_checkout(customer_id=customer, idempotency=claim)
else:
    line = services.LineRequest(uuid.UUID(sys.argv[5]), int(sys.argv[6]))
    services.order_place(customer_id=customer, lines=[line], idempotency=claim)
"""


@pytest.mark.slow
def test_the_retry_of_an_order_whose_process_died_holds_the_stock_once(customer_client, customer):
    product = make_product(quantity=3)
    body = {"items": [{"product_id": str(product.public_id), "quantity": 3}]}
    fingerprint = idempotency.fingerprint("POST", "/api/orders/orders/", body)

    with other_process(DIE_MID_TRANSACTION, str(customer.public_id), "k-mid", fingerprint, "order", str(product.public_id), "3") as owner:
        assert owner.wait(timeout=30) == 137
    assert not Order.objects.exists()
    assert available(product) == 0  # what the dead attempt reserved

    retry = customer_client.post("/api/orders/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-mid")

    assert retry.status_code == 201, retry.content
    assert Order.objects.count() == 1
    assert on_hand(product) == 0
    assert live_holds() == []
    assert_inventory_consistent(product)


@pytest.mark.slow
def test_the_retry_of_a_checkout_whose_process_died_orders_the_cart_it_had_taken(customer_client, customer):
    from opply.orders.tests.test_cart import CART, CHECKOUT, add

    product = make_product(quantity=5)
    add(customer_client, product, 2)
    fingerprint = idempotency.fingerprint("POST", CHECKOUT, {})

    with other_process(DIE_MID_TRANSACTION, str(customer.public_id), "co-mid", fingerprint, "checkout") as owner:
        assert owner.wait(timeout=30) == 137
    assert not Order.objects.exists()
    assert customer_client.get(CART).json()["items"] == []  # the dead attempt had taken it

    retry = customer_client.post(CHECKOUT, HTTP_IDEMPOTENCY_KEY="co-mid")

    assert retry.status_code == 201, retry.content
    assert [(item["product_id"], item["quantity"]) for item in retry.json()["items"]] == [(str(product.public_id), 2)]
    assert on_hand(product) == 3
    assert live_holds() == []
    assert_inventory_consistent(product)
