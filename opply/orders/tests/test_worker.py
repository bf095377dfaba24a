"""The sweeper in a real Celery worker (with beat) against the real broker."""

import pytest

from opply.catalog.tests.factories import make_product
from opply.common.testing_workers import CeleryWorkerProcess, process_environment
from opply.orders.tests.helpers import available
from opply.orders.tests.test_cart import add, expire_cart

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, databases=["default", "replica"])]


@pytest.fixture
def worker():
    # The sweeper only: no fulfilment queue of its own on the broker.
    environment = process_environment(CART_SWEEP_SECONDS="0.5", FULFILMENT_CONSUMER="false")
    with CeleryWorkerProcess(environment, beat=True) as process:
        yield process


def test_a_real_worker_gives_back_the_stock_of_an_abandoned_cart(worker, customer_client, customer):
    product = make_product(quantity=5)
    add(customer_client, product, 4)
    assert available(product) == 1
    expire_cart(customer)

    worker.wait_for(lambda: available(product) == 5, timeout=45, what="the sweeper to give the stock back")
    assert customer_client.get("/api/orders/cart/").json()["items"] == []
