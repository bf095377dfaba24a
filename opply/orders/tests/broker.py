"""The real broker in tests: what sits in the fulfilment queues, and cleaning up."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from django.conf import settings
from kombu import Connection


def _connection() -> Connection:
    return Connection(settings.CELERY_BROKER_URL, connect_timeout=3)


def drain(queue: str) -> list[dict[str, Any]]:
    """Take every message now in ``queue`` (gone afterwards), as decoded JSON bodies."""
    bodies = []
    with _connection() as connection:
        channel = connection.default_channel
        _declare(channel)
        while True:
            message = channel.basic_get(queue=queue, no_ack=True)
            if message is None:
                return bodies
            bodies.append(json.loads(message.body))


def depth(queue: str) -> int:
    with _connection() as connection:
        channel = connection.channel()
        _declare(channel)
        return channel.queue_declare(queue=queue, passive=True).message_count


def _declare(channel: Any) -> None:
    """The events exchange and the fulfilment queues, as publishing would declare them."""
    from opply.orders import outbox

    for entity in outbox.topology():
        entity(channel).declare()


def delete_topology() -> None:
    """Delete the exchanges and queues the current settings name (nothing if absent)."""
    from opply.orders import outbox

    with _connection() as connection:
        for queue in (outbox.fulfilment_queue(), outbox.dead_letter_queue()):
            channel = connection.channel()
            with contextlib.suppress(connection.channel_errors):
                channel.queue_delete(queue=queue.name)
        for exchange in (outbox.events_exchange(), outbox.dead_letter_exchange()):
            channel = connection.channel()
            with contextlib.suppress(connection.channel_errors):
                channel.exchange_delete(exchange=exchange.name)
