"""Holds of decided orders left in the availability store, settled.

An asynchronous order's hold is sold or released by the batch that decides
the order. One can still be left behind:

- the store is rebuilt from PostgreSQL (Redis restarted empty) and restores
  the holds of the orders pending when it reads them; a batch deciding one of
  those orders in the same instant tells the store before the hold is back,
  and nobody sells the restored hold;
- the worker dies, or Redis fails, between a batch's commit and telling the
  store, and the order's message is never delivered again (the consumer
  settles a redelivered one itself).

Such a hold keeps its units from sale for a week (its expiry). A periodic
pass (Celery beat, ``settle-stray-order-holds``) finds the order holds that
outlast a request's (kept or restored for an accepted order), asks
PostgreSQL which of their orders were decided a while ago, and settles them
as the consumer settles a redelivered message: release the hold and reload
the products' committed on-hand by version (``fulfilment.settle_holds``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from opply.catalog import reservations
from opply.common.db.routing import PRIMARY
from opply.orders import fulfilment
from opply.orders.models import Order
from opply.orders.services import ORDER_HOLD_SECONDS

logger = logging.getLogger(__name__)

# A batch tells the store right after its commit: an order decided less than
# this long ago may still be on its way there, and its hold is not stray yet.
GRACE_SECONDS = 60.0


def settle_stray_holds(*, grace_seconds: float = GRACE_SECONDS, batch: int = 1000) -> int:
    """Settle the holds of orders decided more than ``grace_seconds`` ago; return
    how many. Raises ``reservations.StoreUnavailable`` (the next pass retries)."""
    decided_before = timezone.now() - timedelta(seconds=grace_seconds)
    settled = 0
    # Longer than any request's own hold: not a reservation still in flight.
    for holders in reservations.long_order_holds(lasting_over_seconds=ORDER_HOLD_SECONDS, batch=batch):
        orders = orders_holding(holders)
        # An Idempotency-Key reused after its record expired names a new
        # order's hold after an old one's: a holder with a pending order is
        # that order's, never stray.
        pending = set(orders.filter(status=Order.Status.PENDING).values_list("holder", flat=True))
        stray = list(
            orders.exclude(status=Order.Status.PENDING)
            .exclude(holder__in=pending)
            .filter(status_changed_at__lt=decided_before)
            .prefetch_related("lines")
        )
        if not stray:
            continue
        for order in stray:
            logger.warning("settling the stray hold %s of order %s (%s)", order.holder, order.public_id, order.status)
        fulfilment.settle_holds(stray)
        settled += len(stray)
    return settled


def orders_holding(holders: list[str]) -> QuerySet[Order]:
    """The orders whose hold these holders name, found through the partial
    index ``order_holder``: PostgreSQL proves a partial index's condition from
    an ``IN`` list of at most 100 values, so it is stated outright (without
    it, a batch of 1,000 holders scanned the whole orders table)."""
    return Order.objects.using(PRIMARY).filter(holder__in=holders).exclude(holder="")
