"""Real threads, real PostgreSQL and Redis: no oversell, no deadlock, no leak."""

import random

import pytest

from opply.catalog.models import Stock
from opply.catalog.tests.factories import make_product
from opply.common.testing import run_concurrently
from opply.identity.testing import bearer_client
from opply.identity.tests.factories import UserFactory
from opply.orders.models import Order, OrderLine
from opply.orders.tests.helpers import assert_inventory_consistent, available, order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def test_200_concurrent_single_unit_orders_on_50_units_sell_exactly_50():
    product = make_product(quantity=50)
    clients = [bearer_client(UserFactory()) for _ in range(20)]

    statuses = run_concurrently(200, lambda i: order(clients[i % 20], (product, 1)).status_code)

    assert statuses.count(201) == 50
    assert statuses.count(409) == 150
    assert Order.objects.count() == 50
    assert Stock.objects.get(product=product).on_hand == 0
    assert available(product) == 0
    assert_inventory_consistent(product)


def test_multi_line_orders_racing_on_overlapping_products_never_deadlock_or_oversell():
    products = [make_product(quantity=30) for _ in range(6)]
    clients = [bearer_client(UserFactory()) for _ in range(10)]

    def place(i):
        rng = random.Random(i)
        chosen = rng.sample(products, rng.randint(2, 5))
        rng.shuffle(chosen)  # lines arrive in any order; locks are still taken in id order
        return order(clients[i % 10], *[(p, rng.randint(1, 4)) for p in chosen]).status_code

    statuses = run_concurrently(150, place)

    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) > 0
    for product in products:
        sold = sum(OrderLine.objects.filter(product_id=product.public_id).values_list("quantity", flat=True))
        stock = Stock.objects.get(product=product).on_hand
        assert stock >= 0
        assert stock + sold == 30
        assert available(product) == stock
    assert_inventory_consistent(*products)


def test_racing_orders_on_postgres_alone_never_oversell(redis_down):
    product = make_product(quantity=20)
    clients = [bearer_client(UserFactory()) for _ in range(10)]

    statuses = run_concurrently(60, lambda i: order(clients[i % 10], (product, 1)).status_code)

    assert statuses.count(201) == 20
    assert statuses.count(409) == 40
    assert Stock.objects.get(product=product).on_hand == 0
