"""The sweeper in a real Celery worker (with beat) against the real broker."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from opply.catalog.tests.factories import make_product
from opply.orders.tests.helpers import available
from opply.orders.tests.test_cart import add, expire_cart

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, databases=["default", "replica"])]

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def worker(tmp_path):
    db = connection.settings_dict
    queue = f"opply-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TEST_REDIS_URL": settings.REDIS_URL,
        "CART_SWEEP_SECONDS": "0.5",
        # A queue of its own, so that no other worker on this broker takes the tasks.
        "CELERY_QUEUE": queue,
        # The sweeper only: no fulfilment queue of its own left on the broker.
        "FULFILMENT_CONSUMER": "false",
    }
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            # A node name of its own too: two workers named celery@<host> on
            # one broker fight over their control queue and one dies.
            "--hostname",
            f"{queue}@%h",
            "--beat",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--schedule",
            str(tmp_path / "beat"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_real_worker_gives_back_the_stock_of_an_abandoned_cart(worker, customer_client, customer):
    product = make_product(quantity=5)
    add(customer_client, product, 4)
    assert available(product) == 1
    expire_cart(customer)

    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and available(product) != 5:
        assert worker.poll() is None, worker.stdout.read()
        time.sleep(0.25)

    assert available(product) == 5
    assert customer_client.get("/api/orders/cart/").json()["items"] == []
