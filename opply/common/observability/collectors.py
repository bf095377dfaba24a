"""Metrics read at scrape time: the broker's queues and the outbox backlog.

They describe shared state (a queue, a table), not what one process did, so
they are asked for when ``/metrics`` is scraped rather than counted. Every API
instance reports the same figures; dashboards and alerts take ``max``.
Each one gives up quietly (and says so in a metric) if its source does not
answer within a couple of seconds: a scrape must never hang on the broker.

The outbox backlog is for asynchronous fulfilment (issue 12): the collector
reports nothing until the table exists, then its unsent rows and the age of
the oldest. Its contract, for the migration that creates the table:
``OUTBOX_TABLE`` with a ``created_at`` timestamp and a ``sent_at`` timestamp
that stays NULL until the row is published (give it a partial index
``WHERE sent_at IS NULL``). A different shape: change ``OUTBOX_BACKLOG_SQL``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError, connections
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

OUTBOX_TABLE = "orders.outbox"
OUTBOX_BACKLOG_SQL = """
    SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)
      FROM "orders"."outbox"
     WHERE sent_at IS NULL
"""


class CeleryQueueCollector(Collector):
    """Messages waiting and consumers per Celery queue (a passive declare: nothing is created)."""

    def collect(self) -> Iterator[Metric]:
        from kombu import Connection
        from kombu.exceptions import OperationalError

        messages = GaugeMetricFamily("opply_celery_queue_messages", "Messages ready in a Celery queue.", labels=["queue"])
        consumers = GaugeMetricFamily("opply_celery_queue_consumers", "Consumers (worker processes) on a Celery queue.", labels=["queue"])
        up = 1
        try:
            with Connection(settings.CELERY_BROKER_URL, connect_timeout=2, transport_options={"max_retries": 0}) as connection:
                connection.ensure_connection(max_retries=1)
                for queue in settings.METRICS_CELERY_QUEUES:
                    channel = connection.channel()
                    try:
                        _, ready, consuming = channel.queue_declare(queue=queue, passive=True)
                    except connection.channel_errors:  # the queue does not exist (yet): no worker ever declared it
                        continue
                    finally:
                        _close_quietly(channel)
                    messages.add_metric([queue], ready)
                    consumers.add_metric([queue], consuming)
        except (OSError, OperationalError, *_connection_errors()) as exc:
            logger.warning("metrics: broker unreachable (%s)", exc)
            up = 0
        yield messages
        yield consumers
        yield GaugeMetricFamily("opply_broker_up", "1 if the last scrape reached the Celery broker.", value=up)


def _connection_errors() -> tuple[type[BaseException], ...]:
    from amqp.exceptions import AMQPError

    return (AMQPError,)


def _close_quietly(channel) -> None:  # type: ignore[no-untyped-def]
    # The broker closes a channel on a failed passive declare (404).
    with contextlib.suppress(Exception):
        channel.close()


class OutboxBacklogCollector(Collector):
    """Unsent outbox rows and the age of the oldest; nothing while the table does not exist."""

    def collect(self) -> Iterator[Metric]:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [OUTBOX_TABLE])
                if not cursor.fetchone()[0]:
                    return
                cursor.execute(OUTBOX_BACKLOG_SQL)
                count, oldest = cursor.fetchone()
        except DatabaseError as exc:
            logger.warning("metrics: outbox backlog unavailable (%s)", exc)
            return
        yield GaugeMetricFamily("opply_outbox_backlog_messages", "Outbox rows not yet published to the broker.", value=count)
        yield GaugeMetricFamily(
            "opply_outbox_oldest_unsent_age_seconds", "Age of the oldest unpublished outbox row (0: none).", value=float(oldest)
        )


def api_collectors() -> list[Collector]:
    return [CeleryQueueCollector(), OutboxBacklogCollector()]
