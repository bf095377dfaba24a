import time
import uuid
from datetime import datetime

import pytest

from opply.catalog import inventory
from opply.catalog.tasks import release_expired
from opply.catalog.tests.factories import make_product
from opply.common.redis import get_redis
from opply.common.testing import assert_problem, run_concurrently
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory
from opply.orders.cart import cart_holder
from opply.orders.models import Order
from opply.orders.tests.helpers import assert_inventory_consistent, available, live_holds, on_hand

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

CART = "/api/orders/cart/"
ITEMS = "/api/orders/cart/items/"
CHECKOUT = "/api/orders/cart/checkout/"


def add(client, product, quantity):
    return client.post(ITEMS, {"product_id": str(product.public_id), "quantity": quantity}, format="json")


def item_url(product):
    return f"{ITEMS}{product.public_id}/"


def expire_cart(customer) -> None:
    """Move the cart's expiry into the past, as if its time to live had run out."""
    get_redis().zadd(inventory.EXPIRY_KEY, {cart_holder(customer.public_id): time.time() - 1})


def test_an_empty_cart(customer_client):
    assert customer_client.get(CART).json() == {"items": [], "total": "0.00", "expires_at": None}


def test_adding_reserves_stock_at_once(customer_client, settings):
    product = make_product(name="Oat milk 1L", price="2.40", quantity=10)

    response = add(customer_client, product, 3)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["items"] == [
        {"product_id": str(product.public_id), "name": "Oat milk 1L", "unit_price": "2.40", "quantity": 3, "line_total": "7.20"}
    ]
    assert body["total"] == "7.20"
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - (time.time() + settings.CART_TTL_SECONDS)) < 5
    assert available(product) == 7
    assert on_hand(product) == 10  # only an order takes it off the shelf
    assert customer_client.get("/api/catalog/products/").json()["results"][0]["quantity_in_stock"] == 7
    assert customer_client.get(CART).json() == body


def test_adding_again_adds_up(customer_client):
    product = make_product(quantity=10)
    add(customer_client, product, 3)

    assert add(customer_client, product, 2).json()["items"][0]["quantity"] == 5
    assert available(product) == 5


def test_adding_more_than_available_fails_now_and_changes_nothing(customer_client):
    product = make_product(quantity=4)
    other = make_product(quantity=4)
    add(customer_client, other, 1)
    add(customer_client, product, 3)
    before = customer_client.get(CART).json()

    body = assert_problem(add(customer_client, product, 2), 409, "insufficient_stock")

    assert body["available"] == 1
    assert customer_client.get(CART).json() == before
    assert available(product) == 1


def test_another_customers_reservation_counts(customer_client):
    product = make_product(quantity=2)
    add(bearer_client(UserFactory()), product, 2)

    assert assert_problem(add(customer_client, product, 1), 409, "insufficient_stock")["available"] == 0


def test_reserving_the_last_units_takes_the_product_off_the_list(customer_client):
    product = make_product(quantity=2)
    add(customer_client, product, 2)

    assert customer_client.get("/api/catalog/products/").json()["count"] == 0
    customer_client.delete(CART)
    assert customer_client.get("/api/catalog/products/").json()["count"] == 1


def test_setting_a_quantity_reserves_or_releases_the_difference(customer_client):
    product = make_product(quantity=10)
    add(customer_client, product, 3)

    assert customer_client.put(item_url(product), {"quantity": 8}, format="json").json()["items"][0]["quantity"] == 8
    assert available(product) == 2
    assert customer_client.put(item_url(product), {"quantity": 1}, format="json").json()["items"][0]["quantity"] == 1
    assert available(product) == 9
    body = assert_problem(customer_client.put(item_url(product), {"quantity": 11}, format="json"), 409, "insufficient_stock")
    assert body["available"] == 9
    assert customer_client.get(CART).json()["items"][0]["quantity"] == 1


def test_setting_or_removing_a_product_not_in_the_cart_is_404(customer_client):
    product = make_product(quantity=10)

    assert_problem(customer_client.put(item_url(product), {"quantity": 1}, format="json"), 404, "not_in_cart")
    assert_problem(customer_client.delete(item_url(product)), 404, "not_in_cart")
    assert available(product) == 10


def test_removing_a_line_releases_it(customer_client):
    keep = make_product(quantity=10)
    drop = make_product(quantity=10)
    add(customer_client, keep, 1)
    add(customer_client, drop, 4)

    body = customer_client.delete(item_url(drop)).json()

    assert [item["product_id"] for item in body["items"]] == [str(keep.public_id)]
    assert (available(keep), available(drop)) == (9, 10)


def test_emptying_the_cart_returns_every_reservation(customer_client):
    products = [make_product(quantity=5) for _ in range(3)]
    for product in products:
        add(customer_client, product, 2)

    assert customer_client.delete(CART).status_code == 204

    assert customer_client.get(CART).json()["items"] == []
    assert [available(p) for p in products] == [5, 5, 5]
    assert_inventory_consistent(*products)


def test_every_change_renews_the_time_to_live(customer_client, customer):
    product = make_product(quantity=10)
    add(customer_client, product, 1)
    get_redis().zadd(inventory.EXPIRY_KEY, {cart_holder(customer.public_id): time.time() + 5})

    add(customer_client, product, 1)

    assert inventory.hold_expiry(cart_holder(customer.public_id)) > time.time() + 600


def test_an_expired_cart_reads_empty_before_the_sweeper_runs_and_its_stock_returns(customer_client, customer):
    product = make_product(quantity=5)
    add(customer_client, product, 4)
    expire_cart(customer)

    assert customer_client.get(CART).json()["items"] == []
    assert release_expired() == 1
    assert available(product) == 5
    assert release_expired() == 0
    assert_inventory_consistent(product)


def test_adding_to_an_expired_cart_starts_afresh(customer_client, customer):
    product = make_product(quantity=5)
    add(customer_client, product, 4)
    expire_cart(customer)

    body = add(customer_client, product, 2).json()

    assert body["items"][0]["quantity"] == 2
    assert available(product) == 3


def test_expiry_returns_exactly_what_was_reserved_across_many_carts():
    products = [make_product(quantity=50) for _ in range(3)]
    customers = [UserFactory() for _ in range(10)]
    for n, customer in enumerate(customers):
        client = bearer_client(customer)
        for product in products[: 1 + n % 3]:
            add(client, product, 1 + n % 4)
    for customer in customers[:6]:
        expire_cart(customer)

    assert release_expired() == 6

    for product in products:
        still_held = sum(inventory.held_by(cart_holder(c.public_id)).get(product.id, 0) for c in customers[6:])
        assert available(product) == 50 - still_held


def test_two_sweepers_at_once_release_each_cart_exactly_once():
    product = make_product(quantity=200)
    customers = [UserFactory() for _ in range(40)]
    for customer in customers:
        add(bearer_client(customer), product, 3)
        expire_cart(customer)
    assert available(product) == 80

    counts = run_concurrently(4, lambda i: release_expired(limit=7))

    assert sum(counts) == 40
    assert available(product) == 200
    assert_inventory_consistent(product)


def test_racing_adds_on_the_last_units_never_over_reserve():
    product = make_product(quantity=10)
    clients = [bearer_client(UserFactory()) for _ in range(30)]

    statuses = run_concurrently(30, lambda i: add(clients[i], product, 1).status_code)

    assert statuses.count(200) == 10
    assert statuses.count(409) == 20
    assert available(product) == 0
    assert on_hand(product) == 10


class TestCheckout:
    def test_checkout_places_the_order_and_empties_the_cart(self, customer_client):
        oat = make_product(price="2.40", quantity=10)
        beans = make_product(price="18.50", quantity=5)
        add(customer_client, oat, 3)
        add(customer_client, beans, 1)

        response = customer_client.post(CHECKOUT)

        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "confirmed"
        assert body["total"] == "25.70"
        assert customer_client.get(CART).json()["items"] == []
        assert (on_hand(oat), on_hand(beans)) == (7, 4)
        assert (available(oat), available(beans)) == (7, 4)
        assert customer_client.get(f"/api/orders/orders/{body['id']}/").json() == body
        assert_inventory_consistent(oat, beans)

    def test_an_empty_cart_cannot_be_checked_out(self, customer_client):
        assert_problem(customer_client.post(CHECKOUT), 409, "cart_empty")
        assert not Order.objects.exists()

    def test_an_expired_cart_cannot_be_checked_out_and_its_stock_returns(self, customer_client, customer):
        product = make_product(quantity=5)
        add(customer_client, product, 2)
        expire_cart(customer)

        assert_problem(customer_client.post(CHECKOUT), 409, "cart_empty")

        assert available(product) == 5
        assert_inventory_consistent(product)

    def test_checkout_honours_idempotency_keys(self, customer_client):
        product = make_product(quantity=5)
        add(customer_client, product, 2)

        first = customer_client.post(CHECKOUT, HTTP_IDEMPOTENCY_KEY="co-1")
        retry = customer_client.post(CHECKOUT, HTTP_IDEMPOTENCY_KEY="co-1")

        assert first.status_code == retry.status_code == 201
        assert retry.json() == first.json()
        assert retry["Idempotent-Replayed"] == "true"
        assert Order.objects.count() == 1
        assert on_hand(product) == 3

    def test_a_failed_checkout_keeps_the_cart(self, customer_client, staff_client):
        product = make_product(quantity=5)
        add(customer_client, product, 2)
        staff_client.delete(f"/api/catalog/products/{product.public_id}/")  # retired meanwhile

        assert_problem(customer_client.post(CHECKOUT), 400)

        assert customer_client.get(CART).json()["items"][0]["quantity"] == 2
        assert not Order.objects.exists()
        assert on_hand(product) == 5

    def test_a_short_line_at_checkout_is_a_409_naming_it_and_the_cart_is_kept(self, customer_client):
        from django.db.models import F

        from opply.catalog.models import Stock

        product = make_product(quantity=5)
        add(customer_client, product, 4)
        Stock.objects.filter(product=product).update(on_hand=2, version=F("version") + 1)  # a write-off Redis missed

        body = assert_problem(customer_client.post(CHECKOUT), 409, "insufficient_stock")

        assert body["lines"] == [{"product_id": str(product.public_id), "requested": 4, "available": max(2 - 4, 0)}]
        assert customer_client.get(CART).json()["items"][0]["quantity"] == 4
        assert on_hand(product) == 2
        assert not Order.objects.exists()

    def test_a_body_is_refused(self, customer_client):
        assert_problem(customer_client.post(CHECKOUT, {"items": []}, format="json"), 400, "validation_error")

    # Each interleaving of a checkout and the sweeper, forced in that order
    # (not left to timing), with the outcome it must have.
    @pytest.mark.parametrize(
        ("ordering", "expected_status", "expected_swept"),
        [
            ("sweeper, then checkout", 409, 1),
            ("checkout before the expiry, then sweeper", 201, 0),
            ("checkout after the expiry, then sweeper", 409, 0),
            ("sweeper lists the cart, checkout releases it, sweeper skips it", 409, 0),
            ("checkout moves the cart, the sweeper runs before the order commits", 201, 0),
        ],
    )
    def test_checkout_racing_the_sweeper_counts_the_cart_once(self, ordering, expected_status, expected_swept, monkeypatch):
        from opply.catalog import reservations, tasks
        from opply.orders import services

        product = make_product(quantity=10)
        customer = UserFactory()
        client = bearer_client(customer)
        add(client, product, 3)
        status, swept = None, None

        def checkout() -> int:
            return client.post(CHECKOUT).status_code

        if ordering == "sweeper, then checkout":
            expire_cart(customer)
            swept = release_expired()
            status = checkout()
        elif ordering == "checkout before the expiry, then sweeper":
            status = checkout()
            swept = release_expired()
        elif ordering == "checkout after the expiry, then sweeper":
            expire_cart(customer)
            status = checkout()
            swept = release_expired()
        elif ordering == "sweeper lists the cart, checkout releases it, sweeper skips it":
            expire_cart(customer)
            listed = reservations.expired_holders

            def list_then_checkout(**kwargs):  # type: ignore[no-untyped-def]
                nonlocal status
                holders = listed(**kwargs)
                if status is None:
                    assert holders == [cart_holder(customer.public_id)]
                    status = checkout()
                return holders

            monkeypatch.setattr(tasks.reservations, "expired_holders", list_then_checkout)
            swept = release_expired()
        else:
            place = services.order_place

            def sweep_then_place(**kwargs):  # type: ignore[no-untyped-def]
                nonlocal swept
                assert cart_holder(customer.public_id) not in get_redis().zrange(inventory.EXPIRY_KEY, 0, -1)  # moved away
                swept = release_expired()
                return place(**kwargs)

            monkeypatch.setattr(services, "order_place", sweep_then_place)
            status = checkout()

        sold = sum(line.quantity for o in Order.objects.filter(customer_id=customer.public_id) for line in o.lines.all())
        assert (status, swept) == (expected_status, expected_swept)
        assert status in (201, 409)
        assert sold == (3 if status == 201 else 0)
        assert on_hand(product) == 10 - sold
        assert available(product) == 10 - sold
        assert live_holds() == []


class TestHoarding:
    def test_units_per_product_are_capped(self, customer_client, settings):
        settings.CART_MAX_UNITS_PER_PRODUCT = 5
        product = make_product(quantity=100)
        add(customer_client, product, 4)

        body = assert_problem(add(customer_client, product, 2), 422, "cart_quantity_limit")

        assert (body["limit"], body["in_cart"]) == (5, 4)
        assert available(product) == 96
        assert_problem(customer_client.put(item_url(product), {"quantity": 6}, format="json"), 422, "cart_quantity_limit")
        assert customer_client.get(CART).json()["items"][0]["quantity"] == 4

    def test_lines_per_cart_are_capped(self, customer_client, settings):
        settings.CART_MAX_LINES = 2
        products = [make_product(quantity=10) for _ in range(3)]
        add(customer_client, products[0], 1)
        add(customer_client, products[1], 1)

        assert assert_problem(add(customer_client, products[2], 1), 422, "cart_line_limit")["limit"] == 2

        assert available(products[2]) == 10
        assert add(customer_client, products[0], 1).status_code == 200  # more of a line already there is fine


BAD_ADDS = {
    "quantity zero": {"quantity": 0},
    "quantity negative": {"quantity": -1},
    "quantity absurd": {"quantity": 10**9},
    "quantity text": {"quantity": "x"},
    "product malformed": {"product_id": "nope"},
    "product unknown": {"product_id": str(uuid.uuid4())},
    "unknown field": {"colour": "red"},
    "missing product": {"product_id": None},
}


@pytest.mark.parametrize("name", BAD_ADDS)
def test_bad_input_is_400_and_changes_nothing(customer_client, name):
    product = make_product(quantity=5)
    body = {"product_id": str(product.public_id), "quantity": 1, **BAD_ADDS[name]}

    assert_problem(customer_client.post(ITEMS, body, format="json"), 400)

    assert customer_client.get(CART).json()["items"] == []
    assert available(product) == 5
    assert live_holds() == []


def test_putting_quantity_zero_removes_the_line(customer_client):
    product, other = make_product(quantity=5), make_product(quantity=5)
    add(customer_client, product, 2)
    add(customer_client, other, 1)

    response = customer_client.put(item_url(product), {"quantity": 0}, format="json")

    assert response.status_code == 200, response.content
    assert [item["product_id"] for item in response.json()["items"]] == [str(other.public_id)]
    assert available(product) == 5
    assert_problem(customer_client.put(item_url(product), {"quantity": 0}, format="json"), 404, "not_in_cart")


@pytest.mark.parametrize("quantity", [-2, "x", None, "2", 2.0, True, "1_0", "\u0661"])
def test_bad_quantity_on_put_is_400(customer_client, quantity):
    product = make_product(quantity=5)
    add(customer_client, product, 2)

    assert_problem(customer_client.put(item_url(product), {"quantity": quantity}, format="json"), 400)
    assert customer_client.get(CART).json()["items"][0]["quantity"] == 2


def test_a_retired_product_cannot_be_added(customer_client, staff_client):
    product = make_product(quantity=5)
    staff_client.delete(f"/api/catalog/products/{product.public_id}/")

    assert "product_id" in assert_problem(add(customer_client, product, 1), 400)["errors"]


class TestRedisDown:
    @pytest.mark.parametrize(
        "call",
        [
            lambda c, p: c.get(CART),
            lambda c, p: c.delete(CART),
            lambda c, p: add(c, p, 1),
            lambda c, p: c.put(item_url(p), {"quantity": 1}, format="json"),
            lambda c, p: c.delete(item_url(p)),
            lambda c, p: c.post(CHECKOUT),
        ],
        ids=["view", "empty", "add", "set", "remove", "checkout"],
    )
    def test_cart_calls_are_503_with_retry_after(self, customer_client, redis_down, call):
        product = make_product(quantity=5)

        response = call(customer_client, product)

        assert_problem(response, 503, "service_unavailable")
        assert int(response["Retry-After"]) > 0
        assert not Order.objects.exists()

    def test_the_catalog_and_direct_orders_keep_working(self, customer_client, redis_down):
        product = make_product(quantity=5)

        assert customer_client.get("/api/catalog/products/").status_code == 200
        response = customer_client.post(
            "/api/orders/orders/", {"items": [{"product_id": str(product.public_id), "quantity": 1}]}, format="json"
        )
        assert response.status_code == 201
