"""The suites' Celery worker leaves nothing on the shared broker."""

from __future__ import annotations

import pytest
from django.conf import settings
from kombu import Connection

from opply.common.testing_workers import CeleryWorkerProcess, process_environment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _exists(queue: str, *, kind: str = "queue") -> bool:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as broker:
        channel = broker.channel()
        try:
            if kind == "queue":
                channel.queue_declare(queue=queue, passive=True)
            else:
                channel.exchange_declare(exchange=queue, type="direct", passive=True)
        except broker.channel_errors:  # 404 NOT_FOUND
            return False
        channel.close()
        return True


def test_a_stopped_worker_has_deleted_every_queue_it_declared():
    environment = process_environment()
    environment.pop("FULFILMENT_QUEUE", None)
    worker = CeleryWorkerProcess(environment)
    # Its task queue, and the fulfilment queue and dead-letter queue derived
    # from its name (the consumer runs unless told not to).
    queues = worker.declared_queues()
    assert queues == [worker.queue, f"{worker.queue}.fulfilment", f"{worker.queue}.fulfilment.dead"]
    with worker:
        worker.wait_for(lambda: all(_exists(queue) for queue in queues), timeout=60, what="the worker's queues")
        # Celery's direct exchange for its task queue, named after it
        assert _exists(worker.queue, kind="exchange")
    assert [queue for queue in queues if _exists(queue)] == []
    assert not _exists(worker.queue, kind="exchange")
    assert not worker.directory.exists()


def test_a_killed_worker_is_cleaned_up_by_stop_too():
    environment = process_environment(FULFILMENT_CONSUMER="false")
    worker = CeleryWorkerProcess(environment).start()
    assert worker.declared_queues() == [worker.queue]
    worker.wait_for(lambda: _exists(worker.queue), timeout=60, what="the worker's queue")
    worker.kill()
    assert not worker.is_running()
    worker.stop()
    assert not _exists(worker.queue)
