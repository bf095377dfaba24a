"""Asynchronous fulfilment: applying pending orders to the stock, many per transaction.

An order accepted in ``async`` mode is ``pending``: its lines are held in the
availability store and nothing has touched the stock rows. The fulfilment
consumer (:mod:`opply.orders.consumer`) hands the orders named by a batch of
``order.placed`` messages to :func:`apply_batch`, which in ONE transaction:

1. locks those of them that are still ``pending`` (``FOR UPDATE SKIP LOCKED``:
   an order another consumer is applying right now is skipped, never applied
   twice, and one that is no longer pending is skipped: redelivered and
   relayed messages are harmless);
2. sells their holds through the one door to stock
   (:func:`opply.catalog.reservations.sell_holds`): the stock rows of the
   batch's products locked in product-id order, each order taken whole or
   refused, ONE conditional update per product for the batch's total and
   the ledger rows in one statement, so a hot product costs one row lock
   per batch instead of one per order;
3. marks the sold orders ``confirmed`` and the refused ones ``rejected``
   (with the short line as reason) in one statement, and records their
   events in the outbox.

After the commit the store learns it (sold holds committed by version,
refused ones released) and the events are published.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from opply.catalog import reservations
from opply.common.db.routing import PRIMARY
from opply.common.observability import metrics
from opply.orders import events
from opply.orders.models import Order, OrderLine

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    confirmed: list[UUID] = field(default_factory=list)
    rejected: list[UUID] = field(default_factory=list)
    # named by a message but not pending (already applied, or being applied
    # by another consumer right now) or unknown: nothing to do here
    skipped: list[UUID] = field(default_factory=list)


_UPDATE_SQL = """
    UPDATE "orders"."order" AS o
       SET status = v.status,
           status_reason = v.reason,
           status_changed_at = %(now)s,
           updated_at = %(now)s,
           confirmed_at = CASE WHEN v.status = 'confirmed' THEN %(now)s ELSE o.confirmed_at END,
           rejected_at = CASE WHEN v.status = 'rejected' THEN %(now)s ELSE o.rejected_at END
      FROM unnest(%(ids)s::bigint[], %(statuses)s::varchar[], %(reasons)s::varchar[]) AS v(id, status, reason)
     WHERE o.id = v.id AND o.status = 'pending'
"""


def _reason(shortages: Sequence[reservations.Shortage], lines: dict[UUID, _Line]) -> str:
    parts = []
    for short in shortages:
        line = lines.get(short.product_id)
        name = line.product_name if line is not None else str(short.product_id)
        parts.append(f"{name} ({short.product_id}): {short.requested} ordered, {short.available} in stock")
    return ("Not enough stock when the order was fulfilled: " + "; ".join(parts))[:500]


def apply_batch(order_ids: Sequence[UUID]) -> BatchResult:
    """Confirm or reject the pending orders among ``order_ids``, in one transaction (see the module).

    Raises :class:`opply.catalog.reservations.StoreUnavailable` if the store
    cannot be told after the commit; applying the same ids again (the
    message is redelivered) then settles the holds those orders left.
    """
    result = BatchResult()
    wanted = list(dict.fromkeys(order_ids))
    if not wanted:
        return result
    with transaction.atomic(using=PRIMARY, durable=True):
        orders = _lock_pending(wanted)
        found = {order.public_id for order in orders}
        result.skipped = [order_id for order_id in wanted if order_id not in found]
        outcome = _decide(orders, result) if orders else None
    if outcome is not None:
        outcome.tell_store()
    if result.skipped:
        _settle_leftovers(result.skipped)
    if result.rejected:
        logger.info("fulfilment rejected %d order(s) the database could not fill: %s", len(result.rejected), result.rejected)
    return result


# The pending orders among the ids, locked (SKIP LOCKED: another consumer's are
# left to it), with their lines, in one round trip and without the ORM's
# per-row cost (this runs for every order of every batch).
_LOCK_PENDING_SQL = """
    WITH locked AS (
        SELECT id, public_id, customer_id, total, created_at, status_changed_at, holder
          FROM "orders"."order"
         WHERE public_id = ANY(%s) AND status = 'pending'
         ORDER BY id
           FOR UPDATE SKIP LOCKED
    )
    SELECT locked.id, locked.public_id, locked.customer_id, locked.total, locked.created_at,
           locked.status_changed_at, locked.holder,
           array_agg(l.product_id ORDER BY l.product_id), array_agg(l.product_name ORDER BY l.product_id),
           array_agg(l.unit_price ORDER BY l.product_id), array_agg(l.quantity ORDER BY l.product_id),
           array_agg(l.line_total ORDER BY l.product_id)
      FROM locked JOIN "orders"."order_line" AS l ON l.order_id = locked.id
     GROUP BY locked.id, locked.public_id, locked.customer_id, locked.total, locked.created_at,
              locked.status_changed_at, locked.holder
     ORDER BY locked.id
"""


@dataclass(eq=False)
class _Line:
    product_id: UUID
    product_name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal


@dataclass(eq=False)
class _Pending:
    """A pending order as the batch reads it: what deciding it and its event
    need, without a model instance per order and line (a third of the batch's
    Python time went to Model.__init__)."""

    id: int
    public_id: UUID
    customer_id: UUID
    total: Decimal
    created_at: datetime
    status_changed_at: datetime
    holder: str
    prefetched_lines: list[_Line]
    status: str = Order.Status.PENDING
    status_reason: str = ""
    confirmed_at: datetime | None = None
    rejected_at: datetime | None = None


def _lock_pending(order_ids: list[UUID]) -> list[_Pending]:
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_PENDING_SQL, [order_ids])
        rows = cursor.fetchall()
    return [
        _Pending(
            row_id,
            public_id,
            customer_id,
            total,
            created_at,
            changed_at,
            holder,
            [_Line(*line) for line in zip(products, names, prices, quantities, totals, strict=True)],
        )
        for row_id, public_id, customer_id, total, created_at, changed_at, holder, products, names, prices, quantities, totals in rows
    ]


def _settle_leftovers(order_ids: list[UUID]) -> None:
    """Decided orders whose holds the store was never told about (Redis failed
    after their batch committed, or the worker died right then): settle them.
    Only redelivered messages get here; a hold already gone costs one lookup."""
    decided = list(
        Order.objects.using(PRIMARY)
        .filter(public_id__in=order_ids)
        .exclude(status=Order.Status.PENDING)
        .exclude(holder="")
        .prefetch_related("lines")
    )
    settle_holds(decided)


def settle_holds(decided: Sequence[Order]) -> None:
    """Tell the store what it missed about these decided orders (lines
    prefetched): their holds released, their products' committed on-hand
    loaded by version. For redelivered messages, and for the holds the
    periodic pass finds stray (opply.orders.stray_holds)."""
    if decided:
        reservations.settle([o.holder for o in decided], {line.product_id for o in decided for line in o.lines.all()})


def _decide(orders: list[_Pending], result: BatchResult) -> reservations.BatchOutcome:
    """Sell the batch's holds, mark each order confirmed or rejected, record the events (in the caller's transaction)."""
    # Oldest first: when stock runs short, the orders accepted first win.
    sales = [
        reservations.Sale(
            holder=order.holder or reservations.order_holder(order.public_id),
            lines={line.product_id: line.quantity for line in order.prefetched_lines},
            reference=str(order.public_id),
        )
        for order in orders
    ]
    by_reference = {str(order.public_id): order for order in orders}
    outcome = reservations.sell_holds(sales, tell_store_on_commit=False)
    now = timezone.now()
    decided: list[tuple[_Pending, str, str]] = [(by_reference[sale.reference], Order.Status.CONFIRMED, "") for sale in outcome.sold]
    for sale, shortages in outcome.refused:
        order = by_reference[sale.reference]
        decided.append((order, Order.Status.REJECTED, _reason(shortages, {line.product_id: line for line in order.prefetched_lines})))
    with connection.cursor() as cursor:
        cursor.execute(
            _UPDATE_SQL,
            {
                "now": now,
                "ids": [order.id for order, _, _ in decided],
                "statuses": [status for _, status, _ in decided],
                "reasons": [reason for _, _, reason in decided],
            },
        )
        if cursor.rowcount != len(decided):  # pragma: no cover - the rows are locked and pending
            raise RuntimeError(f"fulfilment updated {cursor.rowcount} orders of {len(decided)}")
    payloads = []
    for order, status, reason in decided:
        order.status, order.status_reason, order.status_changed_at = status, reason, now
        if status == Order.Status.CONFIRMED:
            order.confirmed_at = now
            result.confirmed.append(order.public_id)
        else:
            order.rejected_at = now
            result.rejected.append(order.public_id)
        payloads.append(events.payload(order, order.prefetched_lines, occurred_at=now))
    events.record(payloads)
    lags = [(now - order.created_at).total_seconds() for order, status, _ in decided if status == Order.Status.CONFIRMED]
    transaction.on_commit(lambda: _count(lags, len(result.rejected)), using=PRIMARY)
    return outcome


def _count(lags: list[float], rejected: int) -> None:
    if lags:
        metrics.order_transition(Order.Status.CONFIRMED, count=len(lags))
    for lag in lags:
        metrics.observe_fulfilment_lag(lag)
    if rejected:
        metrics.order_transition(Order.Status.REJECTED, count=rejected)
        metrics.reservation_refused(source="fulfilment", decided_by="database", count=rejected)


def pending_order_ids(*, limit: int = 10_000) -> list[UUID]:
    """Pending orders, oldest first (operators: re-drive what was dead-lettered, ``manage.py fulfil_pending``)."""
    return list(Order.objects.using(PRIMARY).filter(status=Order.Status.PENDING).order_by("id").values_list("public_id", flat=True)[:limit])


def any_pending() -> bool:
    """Whether any order awaits fulfilment (the partial index order_pending answers at once)."""
    return Order.objects.using(PRIMARY).filter(status=Order.Status.PENDING).exists()


def pending_holds(product_ids: list[UUID]) -> list[tuple[str, dict[UUID, int]]]:
    """The holds of accepted, unfulfilled orders on these products (registered
    with the store in opply.orders.apps: a rebuilt store holds them again)."""
    rows = (
        OrderLine.objects.using(PRIMARY)
        .filter(order__status=Order.Status.PENDING, product_id__in=product_ids)
        .exclude(order__holder="")
        .values_list("order__holder", "product_id", "quantity")
    )
    holds: dict[str, dict[UUID, int]] = {}
    for holder, product_id, quantity in rows:
        holds.setdefault(holder, {})[product_id] = quantity
    return list(holds.items())
