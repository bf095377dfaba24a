"""The fulfilment consumer: a Celery worker bootstep on the ``order.placed`` queue.

Every Celery worker of this project (``make worker``; compose's ``worker``)
consumes ``FULFILMENT_QUEUE``, bound to the events exchange with the routing
key ``order.placed``, unless ``FULFILMENT_CONSUMER=false``. It is a consumer
step rather than a task because the unit of work is a *batch*: messages are
buffered until ``FULFILMENT_BATCH_SIZE`` are in hand or
``FULFILMENT_BATCH_WAIT_SECONDS`` have passed, and the orders they name are
applied in one transaction (:func:`opply.orders.fulfilment.apply_batch`).

Delivery guarantees:

* **Late acks.** A message is acknowledged only after its order's batch has
  committed (and the store was told). A worker killed mid-batch (OOM, kill -9,
  a deploy) leaves its messages unacknowledged: the broker redelivers them,
  the killed transaction rolled back, and the orders are applied once.
* **Idempotent.** An order that is no longer pending is skipped; one that
  another consumer is applying right now is skipped (``SKIP LOCKED``) and
  that consumer holds its own message for it.
* **Retries with backoff.** A batch that fails on something transient (the
  database or Redis unavailable, a lock timeout) is retried after
  ``FULFILMENT_RETRY_BASE_SECONDS`` x 1, 2, 4... up to
  ``FULFILMENT_MAX_RETRIES`` times, with the messages held.
* **Dead letters.** A batch that keeps failing (or fails on anything else)
  is split: each order is tried alone, and the message of one that still
  fails is rejected to the dead-letter queue ``FULFILMENT_QUEUE.dead``
  (RabbitMQ's ``x-death`` header says when and why). Its order stays
  visibly ``pending`` and an error is logged with its id; README, "Dead
  letters", says what an operator does then.

The batch runs in the worker's main process (the consumer's event loop): a
dedicated channel with its own prefetch, no pool round trip per order.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from typing import Any

from celery import bootsteps

logger = logging.getLogger("opply.orders.consumer")


def _transient_errors() -> tuple[type[BaseException], ...]:
    from django.db import InterfaceError, OperationalError
    from redis.exceptions import RedisError

    from opply.catalog.reservations import StoreUnavailable

    return (OperationalError, InterfaceError, RedisError, StoreUnavailable)


def _reset_database_connections() -> None:
    """After a failure the connection may be dead (PostgreSQL restarted): the next attempt opens a new one."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        # Closing a broken connection may fail too; it is dropped either way.
        with contextlib.suppress(Exception):
            conn.close()


def order_id_of(message: Any) -> uuid.UUID | None:
    """The order a message names: its ``order_id`` header (set by the outbox),
    else the body's ``order.id`` (decoded only then); None if neither is a UUID."""
    try:
        return uuid.UUID((message.headers or {})["order_id"])
    except (TypeError, KeyError, ValueError, AttributeError):
        pass
    try:
        return uuid.UUID(message.payload["order"]["id"])
    except Exception:  # noqa: BLE001 - an undecodable body names no order either
        return None


def process(messages: list[Any], *, sleep: Any = time.sleep) -> None:
    """Apply the orders of ``messages`` (kombu messages of ``order.placed`` events) and settle each message."""
    from django.conf import settings
    from django.db import close_old_connections

    from opply.orders.fulfilment import apply_batch

    named: list[tuple[Any, uuid.UUID]] = []
    for message in messages:
        order_id = order_id_of(message)
        if order_id is None:
            logger.error("fulfilment: dead-lettering a message that names no order: %r", message.body[:200])
            message.reject(requeue=False)
        else:
            named.append((message, order_id))
    if not named:
        return
    transient = _transient_errors()
    retries = settings.FULFILMENT_MAX_RETRIES
    for attempt in range(retries + 1):
        close_old_connections()
        try:
            result = apply_batch([order_id for _, order_id in named])
        except transient as exc:
            _reset_database_connections()
            if attempt == retries:
                logger.error("fulfilment: a batch of %d order(s) still fails after %d retries (%s)", len(named), retries, exc)
                break
            delay = settings.FULFILMENT_RETRY_BASE_SECONDS * 2**attempt
            logger.warning("fulfilment: batch of %d failed (%s); retry %d/%d in %.1fs", len(named), exc, attempt + 1, retries, delay)
            sleep(delay)
        except Exception:
            _reset_database_connections()
            logger.exception("fulfilment: a batch of %d order(s) failed; trying them one by one", len(named))
            break
        else:
            # One frame for the whole batch: every earlier delivery on this
            # channel is settled already (batches run one after the other, and
            # the buffer holds every message delivered since the last one).
            named[-1][0].ack(multiple=True)
            if result.confirmed or result.rejected:
                logger.debug("fulfilment: %d confirmed, %d rejected", len(result.confirmed), len(result.rejected))
            return
    for message, order_id in named:
        try:
            apply_batch([order_id])
        except Exception:
            _reset_database_connections()
            logger.exception("fulfilment: order %s dead-lettered; it stays pending (README: Dead letters)", order_id)
            message.reject(requeue=False)
        else:
            message.ack()


class FulfilmentConsumer(bootsteps.ConsumerStep):
    """Consume ``order.placed`` in batches (see the module docstring)."""

    # Start consuming once Mingle has run. Mingle asks the other workers hello
    # over the same connection and drains it synchronously until a whole
    # second passes without a frame: with orders arriving it never ends, the
    # event loop (and the batch timer) never starts, and batches went only
    # when FULFILMENT_BATCH_SIZE messages were in hand: at 200 orders/s, one
    # batch of 1,000 every 5 s, a lag of 0-5 s for every order.
    requires = ("celery.worker.consumer.mingle:Mingle",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._buffer: list[Any] = []
        self._timer: Any = None

    def get_consumers(self, channel: Any) -> list[Any]:
        from django.conf import settings
        from kombu import Consumer

        from opply.orders import outbox

        if not settings.FULFILMENT_CONSUMER:
            return []
        queue = outbox.fulfilment_queue()
        for entity in outbox.topology():
            entity(channel).declare()
        return [
            Consumer(
                channel,
                queues=[queue],
                # on_message: the raw message, its body decoded only if it has
                # no order_id header (see order_id_of).
                on_message=self._on_message,
                accept=["json"],
                prefetch_count=settings.FULFILMENT_BATCH_SIZE * 2,
            )
        ]

    def start(self, c: Any) -> None:
        from django.conf import settings

        super().start(c)
        if self.consumers:
            from opply.orders import outbox

            # A batch's events are published by the pool while the next batch is applied.
            outbox.hand_over_to_pool()
            self._timer = c.timer.call_repeatedly(settings.FULFILMENT_BATCH_WAIT_SECONDS, self._flush)
            logger.info("fulfilment consumer on %s", settings.FULFILMENT_QUEUE)

    def stop(self, c: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # What is buffered was never acknowledged: the broker redelivers it.
        self._buffer = []
        super().stop(c)

    def shutdown(self, c: Any) -> None:
        self.stop(c)
        super().shutdown(c)

    def _on_message(self, message: Any) -> None:
        from django.conf import settings

        self._buffer.append(message)
        if len(self._buffer) >= settings.FULFILMENT_BATCH_SIZE:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        messages, self._buffer = self._buffer, []
        try:
            process(messages)
        except Exception:  # pragma: no cover - process settles every message itself
            logger.exception("fulfilment: unexpected failure; the messages will be redelivered")
