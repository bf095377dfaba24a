"""Order events for other services: what they say, and recording them in the outbox.

Every status an order enters is an event, published to the topic exchange
``ORDER_EVENTS_EXCHANGE`` (default ``opply.orders``) with the routing key
below; another service binds a queue of its own (``order.*``, or just
``order.shipped``) without touching this code. The body is JSON
(``application/json``, UTF-8), the AMQP ``message_id`` is ``event_id``::

    {
      "event": "order.confirmed",          # order.placed | order.confirmed | order.rejected
                                           # | order.shipped | order.cancelled
      "version": 1,                        # bumped only by an incompatible change
      "event_id": "3f0c…",                 # unique per event: deduplicate on it (delivery is at least once)
      "occurred_at": "2026-11-26T12:00:00.123456Z",
      "order": {
        "id": "…", "customer_id": "…", "status": "confirmed",
        "status_changed_at": "…", "reason": "",   # why it was rejected or who cancelled it
        "created_at": "…", "total": "7.20",
        "items": [{"product_id": "…", "product_name": "Oat milk 1L", "unit_price": "2.40",
                   "quantity": 3, "line_total": "7.20"}]
      }
    }

Events are written to ``orders.outbox`` in the transaction that changed the
order, so an event exists if and only if the change committed; publishing
(after commit, and the relay for whatever a crash left unsent) is
:mod:`opply.orders.outbox`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from opply.orders.models import Order, OrderLine

EVENT_VERSION = 1

TOPICS: dict[str, str] = {
    Order.Status.PENDING: "order.placed",
    Order.Status.CONFIRMED: "order.confirmed",
    Order.Status.REJECTED: "order.rejected",
    Order.Status.SHIPPED: "order.shipped",
    Order.Status.CANCELLED: "order.cancelled",
}


def _timestamp(value: datetime) -> str:
    """As :func:`opply.common.serializers.timestamp` renders it (``2026-11-25T12:30:00.123456Z``),
    without a DRF field per call: the fulfilment worker formats thousands a second."""
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat() + "Z"


def payload(order: Any, lines: Iterable[Any], *, occurred_at: datetime | None = None) -> dict[str, Any]:
    """The event of the status ``order`` is in (an :class:`Order` and its lines, or the fulfilment batch's light copies)."""
    topic = TOPICS[order.status]
    return {
        "event": topic,
        "version": EVENT_VERSION,
        "event_id": str(uuid.uuid4()),
        "occurred_at": _timestamp(occurred_at or timezone.now()),
        "order": {
            "id": str(order.public_id),
            "customer_id": str(order.customer_id),
            "status": order.status,
            "status_changed_at": _timestamp(order.status_changed_at),
            "reason": order.status_reason,
            "created_at": _timestamp(order.created_at),
            "total": f"{order.total:.2f}",
            "items": [
                {
                    "product_id": str(line.product_id),
                    "product_name": line.product_name,
                    "unit_price": f"{line.unit_price:.2f}",
                    "quantity": line.quantity,
                    "line_total": f"{line.line_total:.2f}",
                }
                for line in lines
            ],
        },
    }


# The events travel as ONE JSON array (one parameter to bind, whatever the
# batch's size); each row returns its event id to match ids to events.
_INSERT_SQL = """
    INSERT INTO "orders"."outbox" (topic, payload, created_at)
    SELECT e->>'event', e, %s FROM jsonb_array_elements(%s::jsonb) AS e
    RETURNING id, payload->>'event_id'
"""


def record(payloads: Sequence[dict[str, Any]]) -> None:
    """Write events to the outbox in the caller's transaction (one statement),
    and publish them once it commits."""
    if not payloads:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("events are recorded inside the transaction that caused them")
    from opply.orders import outbox  # the broker side; imported late (kombu on the request path only when used)

    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, [timezone.now(), outbox.dumps(list(payloads))])
        ids = {event_id: row_id for row_id, event_id in cursor.fetchall()}
    messages = [outbox.Message(id=ids[p["event_id"]], topic=p["event"], body=p) for p in payloads]
    transaction.on_commit(lambda: outbox.publish_after_commit(messages))


def record_transition(order: Order, lines: Iterable[OrderLine] | None = None) -> None:
    """The event of the status ``order`` just entered (``lines``: its lines, read if not given)."""
    record([payload(order, lines if lines is not None else order.lines.all())])
