"""Orders and availability when Redis is down, comes back, or comes back empty."""

import io

import pytest
from django.core.management import CommandError, call_command

from opply.catalog import inventory
from opply.catalog.models import Product
from opply.catalog.tasks import resync_availability
from opply.catalog.tests.factories import make_product
from opply.common.redis import get_redis
from opply.common.testing import DEAD_REDIS_URL, assert_problem, redis_at
from opply.orders.models import Order
from opply.orders.tests.helpers import assert_inventory_consistent, available, on_hand, order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def test_orders_work_on_postgres_alone_while_redis_is_down(customer_client, redis_down):
    product = make_product(quantity=3)

    placed = order(customer_client, (product, 2))
    refused = order(customer_client, (product, 2))

    assert placed.status_code == 201
    body = assert_problem(refused, 409, "insufficient_stock")
    assert body["lines"][0]["available"] == 1
    assert on_hand(product) == 1
    assert Order.objects.count() == 1


def test_the_list_and_detail_are_served_while_redis_is_down(customer_client, redis_down):
    product = make_product(quantity=3)

    listed = customer_client.get("/api/catalog/products/")
    detail = customer_client.get(f"/api/catalog/products/{product.public_id}/")

    assert listed.status_code == detail.status_code == 200
    assert listed.json()["results"][0]["quantity_in_stock"] == 3
    assert detail.json()["quantity_in_stock"] == 3


def test_redis_coming_back_with_stale_values_is_repaired(customer_client, settings):
    product = make_product(quantity=5)
    assert available(product) == 5  # Redis knows the product

    # Redis becomes unreachable while an order is placed on PostgreSQL alone.
    with redis_at(DEAD_REDIS_URL):
        assert order(customer_client, (product, 2)).status_code == 201

    # Redis is back but missed the sale: reconciliation reports and repairs it.
    assert inventory.stored_state([product.id])[product.id][0] == 5
    with pytest.raises(CommandError):
        call_command("inventory_reconcile")
    call_command("inventory_reconcile", "--fix")
    call_command("inventory_reconcile")

    assert available(product) == 3
    assert_inventory_consistent(product)


def test_the_next_order_also_repairs_a_stale_product(customer_client, settings):
    product = make_product(quantity=5)
    assert available(product) == 5
    with redis_at(DEAD_REDIS_URL):
        order(customer_client, (product, 2))

    assert order(customer_client, (product, 1)).status_code == 201

    assert available(product) == 2
    assert_inventory_consistent(product)


def test_redis_restarted_empty_rebuilds_availability_from_postgres(customer_client):
    product = make_product(quantity=5)
    order(customer_client, (product, 2))

    get_redis().flushdb()  # a restart of a Redis that keeps nothing on disk

    assert available(product) == 3
    assert customer_client.get("/api/catalog/products/").json()["results"][0]["quantity_in_stock"] == 3
    assert order(customer_client, (product, 3)).status_code == 201
    assert_problem(order(customer_client, (product, 1)), 409, "insufficient_stock")
    assert_inventory_consistent(product)


def test_reconcile_repairs_a_leaked_reserved_counter():
    product = make_product(quantity=5)
    assert available(product) == 5
    inventory.set_reserved(product.id, 4)  # a counter no hold accounts for

    with pytest.raises(CommandError):
        call_command("inventory_reconcile")
    call_command("inventory_reconcile", "--fix")

    assert available(product) == 5


def _listed(client) -> list[str]:  # type: ignore[no-untyped-def]
    return [row["id"] for row in client.get("/api/catalog/products/").json()["results"]]


def test_a_product_that_sold_out_while_redis_was_down_leaves_the_list(customer_client, settings):
    product = make_product(quantity=2)
    kept = make_product(quantity=5)
    assert available(product) == 2
    with redis_at(DEAD_REDIS_URL):
        assert order(customer_client, (product, 2)).status_code == 201  # on PostgreSQL alone
    get_redis().flushdb()  # Redis comes back empty

    assert _listed(customer_client) == [str(kept.public_id)]
    call_command("inventory_reconcile")  # no drift left behind


def _stale_flags(client):  # type: ignore[no-untyped-def]
    """A product sold out and one for sale whose list flags say the opposite
    (a refresh that could not run): the list shows a product nobody can buy
    and hides one that is for sale."""
    sold_out = make_product(quantity=1)
    order(client, (sold_out, 1))
    restocked = make_product(quantity=3)
    Product.objects.filter(id=sold_out.id).update(in_stock=True)
    Product.objects.filter(id=restocked.id).update(in_stock=False)
    return sold_out, restocked


def test_reconcile_reports_and_repairs_a_stale_in_stock_flag(customer_client):
    sold_out, restocked = _stale_flags(customer_client)

    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("inventory_reconcile", stdout=out)
    assert f"DRIFT product {sold_out.id} in_stock: found=1 expected=0" in out.getvalue()
    assert f"DRIFT product {restocked.id} in_stock: found=0 expected=1" in out.getvalue()
    call_command("inventory_reconcile", "--fix")
    call_command("inventory_reconcile")

    assert _listed(customer_client) == [str(restocked.public_id)]


def test_the_periodic_resync_repairs_stale_in_stock_flags(customer_client):
    _, restocked = _stale_flags(customer_client)
    get_redis().flushdb()  # and Redis restarted empty: no key crosses zero

    assert resync_availability() == 2

    assert _listed(customer_client) == [str(restocked.public_id)]
    call_command("inventory_reconcile")
