"""Publishing the outbox to RabbitMQ: after commit, and the relay for what a crash left unsent.

Why an outbox of our own (DESIGN.md, "Asynchronous fulfilment" asked us to
weigh three libraries):

* ``django-outbox-pattern`` publishes over STOMP (RabbitMQ's STOMP plugin):
  our broker speaks AMQP, and enabling a plugin on a shared broker (or on
  Amazon MQ) is an operational change for one table's worth of code;
* ``django-celery-outbox`` stores *Celery task calls*; our events are plain
  JSON for services that are not Celery (an ERP, notifications), on a topic
  exchange, and the metrics already expect ``orders.outbox`` with
  ``created_at`` / ``sent_at`` (collectors.OUTBOX_BACKLOG_SQL). It is also a
  0.x release with few users;
* ``celery-batches`` (for the consumer, not the outbox) pins ``celery<5.7``
  (we pin 5.7) and calls itself experimental; batching over ``SKIP LOCKED``
  needs no buffer of messages anyway (opply.orders.fulfilment).

So: one table, one INSERT in the transaction that changes an order
(opply.orders.events), and this module.

* **After commit** the process that committed publishes the rows it wrote
  (persistent messages, committed as one AMQP transaction: the broker has
  them once ``tx.commit`` returns) and marks them ``sent_at``. A
  broker that is down does not fail the request: the rows stay unsent and
  this process stops trying for a few seconds (no connect timeout per
  request).
* **The relay** (a periodic task, every ``OUTBOX_RELAY_SECONDS``) publishes
  rows unsent for more than ``OUTBOX_RELAY_AFTER_SECONDS``, locking them
  ``FOR UPDATE SKIP LOCKED`` so that two relays do not send the same rows at
  once. Delivery is at least once: a crash after publishing and before
  ``sent_at`` sends a row again, so consumers deduplicate on ``event_id``
  (the fulfilment consumer is idempotent: it applies only pending orders).

Declarations: publishing declares the events exchange and the fulfilment
queue bound to ``order.placed`` (with its dead-letter exchange and queue),
so an order accepted before any worker ever started waits in the queue
instead of being dropped as unroutable.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from kombu import Connection, Exchange, Queue

logger = logging.getLogger(__name__)

PLACED = "order.placed"


@dataclass(frozen=True)
class Message:
    id: int
    topic: str
    body: dict[str, Any]


def dumps(body: Any) -> str:
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"))


# --- Topology -----------------------------------------------------------------------------


def events_exchange() -> Exchange:
    return Exchange(settings.ORDER_EVENTS_EXCHANGE, type="topic", durable=True)


def dead_letter_exchange() -> Exchange:
    return Exchange(f"{settings.ORDER_EVENTS_EXCHANGE}.dead", type="direct", durable=True)


def fulfilment_queue() -> Queue:
    """The fulfilment consumer's queue: every ``order.placed``; what it rejects goes to the dead-letter queue."""
    return Queue(
        settings.FULFILMENT_QUEUE,
        exchange=events_exchange(),
        routing_key=PLACED,
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": dead_letter_exchange().name,
            "x-dead-letter-routing-key": settings.FULFILMENT_QUEUE,
        },
    )


def dead_letter_queue() -> Queue:
    return Queue(f"{settings.FULFILMENT_QUEUE}.dead", exchange=dead_letter_exchange(), routing_key=settings.FULFILMENT_QUEUE, durable=True)


def topology() -> list[Any]:
    return [events_exchange(), dead_letter_exchange(), fulfilment_queue(), dead_letter_queue()]


# --- Publishing ---------------------------------------------------------------------------

_broker_down_until = 0.0


class _Publisher:
    """A connection and a channel in AMQP transaction mode, per thread and broker.

    A batch of events is published and then committed with ``tx.commit``: one
    round trip for the whole batch, after which the broker has taken them
    (persistent messages on durable queues). Per-message publisher confirms
    cost a round trip per event, which capped the fulfilment worker, which
    publishes a batch of hundreds at a time. Any failure drops the
    connection; the next publish opens a new one.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: Connection | None = None
        self.channel: Any = None
        self.producer: Any = None
        self.declared: tuple[str, str] | None = None

    def publish(self, messages: Sequence[Message]) -> None:
        try:
            self._publish(messages)
        except BaseException:
            self.close()
            raise

    def _publish(self, messages: Sequence[Message]) -> None:
        if self.channel is None:
            self.connection = Connection(self.url, connect_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
            self.connection.ensure_connection(max_retries=1)
            self.channel = self.connection.channel()
            self.channel.tx_select()
            self.producer = self.connection.Producer(channel=self.channel)
            self.declared = None
        names = (settings.ORDER_EVENTS_EXCHANGE, settings.FULFILMENT_QUEUE)
        if self.declared != names:
            for entity in topology():
                entity(self.channel).declare()
            self.declared = names
        exchange = settings.ORDER_EVENTS_EXCHANGE
        for message in messages:
            self.producer.publish(
                message.body,
                exchange=exchange,
                routing_key=message.topic,
                serializer="json",
                delivery_mode=2,
                message_id=str(message.body.get("event_id", message.id)),
                # The order's id, readable without decoding the body (the
                # fulfilment consumer reads thousands a second).
                headers={"order_id": message.body.get("order", {}).get("id")},
                retry=False,
            )
        self.channel.tx_commit()

    def close(self) -> None:
        connection, self.connection, self.channel, self.producer = self.connection, None, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


_local = threading.local()


def publish(messages: Sequence[Message]) -> None:
    """Publish to the events exchange, persistent, committed as one AMQP
    transaction; raises if the broker fails (nothing is then known to be sent)."""
    url = settings.CELERY_BROKER_URL
    publishers = getattr(_local, "publishers", None)
    if publishers is None or getattr(_local, "pid", None) != os.getpid():
        # A forked child never shares its parent's socket.
        publishers = _local.publishers = {}
        _local.pid = os.getpid()
    if url not in publishers:
        publishers[url] = _Publisher(url)
    publishers[url].publish(messages)


def _mark_sent(ids: Sequence[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute('UPDATE "orders"."outbox" SET sent_at = %s WHERE id = ANY(%s)', [timezone.now(), list(ids)])


# In the fulfilment worker's main process, a batch's events are handed to the
# worker's pool (a task naming their rows) instead of being published in the
# consumer's loop: the pool publishes them on the other core while the
# consumer applies the next batch. If the hand-over fails, the relay publishes
# them a few seconds later.
_hand_over_pid = 0


def hand_over_to_pool() -> None:
    """From now on this process hands committed events to a pool task (the fulfilment consumer)."""
    global _hand_over_pid
    _hand_over_pid = os.getpid()


def publish_after_commit(messages: Sequence[Message]) -> None:
    """Run by ``transaction.on_commit``: never raises (the change is committed; the relay is the safety net)."""
    if not messages:
        return
    if _hand_over_pid == os.getpid():
        from opply.orders.tasks import publish_events

        try:
            publish_events.apply_async(args=[[m.id for m in messages]], retry=False)
            return
        except Exception as exc:  # noqa: BLE001 - kombu raises transport-specific errors; publish here instead
            logger.warning("outbox: could not hand %d event(s) to the pool (%s); publishing them here", len(messages), exc)
    _publish_now(messages)


def _publish_now(messages: Sequence[Message]) -> None:
    global _broker_down_until
    if not messages or time.monotonic() < _broker_down_until:
        return
    try:
        publish(messages)
    except Exception as exc:  # noqa: BLE001 - any broker failure: kombu raises transport-specific errors
        _broker_down_until = time.monotonic() + settings.OUTBOX_BROKER_RETRY_SECONDS
        logger.warning("outbox: could not publish %d event(s) now (%s); the relay will", len(messages), exc)
        return
    try:
        _mark_sent([m.id for m in messages])
    except Exception as exc:  # noqa: BLE001 - published; the relay sends them again (at least once)
        logger.warning("outbox: published %d event(s) but could not mark them sent (%s)", len(messages), exc)
        if not connection.in_atomic_block:
            connection.close()  # perhaps broken (PostgreSQL restarted): the next use opens a new one


def publish_rows(ids: Sequence[int]) -> int:
    """Publish the outbox rows ``ids`` that are still unsent (the pool's half of
    :func:`hand_over_to_pool`); rows another publisher holds are left to it."""
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(
                'SELECT id, topic, payload FROM "orders"."outbox" WHERE id = ANY(%s) AND sent_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED',
                [list(ids)],
            )
            rows = cursor.fetchall()
        if not rows:
            return 0
        messages = [Message(id=row[0], topic=row[1], body=row[2] if isinstance(row[2], dict) else json.loads(row[2])) for row in rows]
        publish(messages)
        _mark_sent([m.id for m in messages])
    return len(rows)


_UNSENT_SQL = """
    SELECT id, topic, payload FROM "orders"."outbox"
     WHERE sent_at IS NULL AND created_at < %s
     ORDER BY created_at, id
     LIMIT %s
       FOR UPDATE SKIP LOCKED
"""


def relay(*, older_than_seconds: float | None = None, batch_size: int = 500, max_batches: int = 100) -> int:
    """Publish what was committed but never published; return how many rows were sent.

    Raises if the broker fails (the task retries at its next run; what was
    published before the failure is marked sent).
    """
    age = settings.OUTBOX_RELAY_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    sent = 0
    for _ in range(max_batches):
        with transaction.atomic(durable=True):
            with connection.cursor() as cursor:
                cursor.execute(_UNSENT_SQL, [timezone.now() - timedelta(seconds=age), batch_size])
                rows = cursor.fetchall()
            if not rows:
                break
            messages = [Message(id=row[0], topic=row[1], body=row[2] if isinstance(row[2], dict) else json.loads(row[2])) for row in rows]
            publish(messages)
            _mark_sent([m.id for m in messages])
        sent += len(rows)
        if len(rows) < batch_size:
            break
    if sent:
        logger.warning("outbox relay: published %d event(s) that were committed but not published", sent)
    return sent


def delete_sent(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Housekeeping: published rows are kept a week for inspection, then deleted."""
    with connection.cursor() as cursor:
        cursor.execute('DELETE FROM "orders"."outbox" WHERE sent_at < %s', [timezone.now() - older_than])
        return cursor.rowcount
