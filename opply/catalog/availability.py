"""How many units of each product a customer can still buy.

Read from the availability store in Redis (on hand minus live reservations),
one round trip per page. If Redis is down, the committed on-hand stock from
PostgreSQL answers instead: reservations are then unknown, so the figure can
be a little high, and PostgreSQL still refuses to oversell at order time.

The one fallback from Redis to PostgreSQL for reads of availability: the
catalog's list reads it directly, everyone else through
:func:`opply.catalog.reservations.available`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis.exceptions import RedisError

from opply.catalog import inventory
from opply.catalog.models import Stock

logger = logging.getLogger(__name__)


def available_quantities(product_ids: Iterable[int], *, primary: bool = False) -> dict[int, int]:
    """Units available per product; ``primary``: fall back to the primary's
    stock rows (a write path), not the replica's."""
    ids = list(product_ids)
    if not ids:
        return {}
    try:
        return inventory.available(ids)
    except RedisError:
        logger.warning("availability store unreachable: quantities from PostgreSQL on-hand stock")
        stock = Stock.objects.using("default") if primary else Stock.objects
        return dict(stock.filter(product_id__in=ids).values_list("product_id", "on_hand"))
