"""A cart's hold has an absolute lifetime: renewing cannot keep stock out of reach for ever."""

import time

import pytest

from opply.catalog import inventory
from opply.catalog.tasks import release_expired
from opply.catalog.tests.factories import make_product
from opply.common.redis import get_redis
from opply.orders.cart import cart_holder
from opply.orders.tests.helpers import available, live_holds

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

ITEMS = "/api/orders/cart/items/"
STARTED_KEY = "holds:started"


def add(client, product, quantity):
    response = client.post(ITEMS, {"product_id": str(product.public_id), "quantity": quantity}, format="json")
    assert response.status_code == 200, response.content
    return response


def put(client, product, quantity):
    response = client.put(f"{ITEMS}{product.public_id}/", {"quantity": quantity}, format="json")
    assert response.status_code == 200, response.content
    return response


def began_ago(customer, seconds: float) -> float:
    """Pretend the cart's first reservation was this long ago; return that time."""
    started = time.time() - seconds
    get_redis().zadd(STARTED_KEY, {cart_holder(customer.public_id): started})
    return started


def test_setting_the_quantity_a_line_already_has_does_not_renew_the_cart(customer_client, customer):
    product = make_product(quantity=10)
    add(customer_client, product, 2)
    expiry = inventory.hold_expiry(cart_holder(customer.public_id))

    time.sleep(0.05)
    put(customer_client, product, 2)

    assert inventory.hold_expiry(cart_holder(customer.public_id)) == expiry


def test_a_real_change_renews_the_cart(customer_client, customer):
    product = make_product(quantity=10)
    add(customer_client, product, 2)
    expiry = inventory.hold_expiry(cart_holder(customer.public_id))

    time.sleep(0.05)
    put(customer_client, product, 3)

    assert inventory.hold_expiry(cart_holder(customer.public_id)) > expiry


def test_renewals_never_extend_a_cart_past_its_maximum_lifetime(customer_client, customer, settings):
    settings.CART_TTL_SECONDS, settings.CART_MAX_LIFETIME_SECONDS = 900, 3600
    product, other = make_product(quantity=10), make_product(quantity=10)
    add(customer_client, product, 2)
    started = began_ago(customer, 3600 - 30)

    add(customer_client, other, 1)
    put(customer_client, product, 3)

    expiry = inventory.hold_expiry(cart_holder(customer.public_id))
    assert expiry == pytest.approx(started + 3600, abs=0.01)
    assert expiry < time.time() + 31


def test_once_its_lifetime_is_over_the_stock_goes_back_to_everyone(customer_client, customer, settings):
    settings.CART_TTL_SECONDS, settings.CART_MAX_LIFETIME_SECONDS = 900, 3600
    product = make_product(quantity=10)
    add(customer_client, product, 4)
    began_ago(customer, 3600 - 1)
    put(customer_client, product, 5)  # renewed: to the end of the lifetime at most

    time.sleep(1.1)
    assert release_expired() == 1

    assert available(product) == 10
    assert live_holds() == []
    assert customer_client.get("/api/orders/cart/").json()["items"] == []


def test_adding_after_the_lifetime_starts_a_new_cart_from_nothing(customer_client, customer, settings):
    settings.CART_TTL_SECONDS, settings.CART_MAX_LIFETIME_SECONDS = 900, 3600
    product, other = make_product(quantity=10), make_product(quantity=10)
    add(customer_client, product, 4)
    began_ago(customer, 3601)
    get_redis().zadd(inventory.EXPIRY_KEY, {cart_holder(customer.public_id): time.time() - 1})

    body = add(customer_client, other, 1).json()

    assert [item["product_id"] for item in body["items"]] == [str(other.public_id)]
    assert available(product) == 10
    expiry = inventory.hold_expiry(cart_holder(customer.public_id))
    assert expiry == pytest.approx(time.time() + 900, abs=5)


def test_a_failed_checkout_gives_the_cart_back_without_restarting_its_lifetime(customer_client, customer, staff_client, settings):
    settings.CART_TTL_SECONDS, settings.CART_MAX_LIFETIME_SECONDS = 900, 3600
    product, retired = make_product(quantity=10), make_product(quantity=10)
    add(customer_client, product, 1)
    add(customer_client, retired, 1)
    started = began_ago(customer, 3600 - 60)
    assert staff_client.delete(f"/api/catalog/products/{retired.public_id}/").status_code == 204

    assert customer_client.post("/api/orders/cart/checkout/", format="json").status_code == 400

    holder = cart_holder(customer.public_id)
    assert get_redis().zscore(STARTED_KEY, holder) == pytest.approx(started, abs=0.01)
    assert inventory.hold_expiry(holder) <= started + 3600 + 0.01


def test_an_emptied_or_checked_out_cart_leaves_no_bookkeeping_behind(customer_client, customer):
    product = make_product(quantity=10)
    add(customer_client, product, 1)
    assert customer_client.post("/api/orders/cart/checkout/", format="json").status_code == 201
    add(customer_client, product, 1)
    assert customer_client.delete("/api/orders/cart/").status_code == 204

    assert get_redis().zcard(STARTED_KEY) == 0
    assert get_redis().zcard(inventory.EXPIRY_KEY) == 0
