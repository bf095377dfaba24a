"""Writes of the orders module: placing and cancelling orders.

There is one commit path for stock, :func:`order_place`, used by direct
orders and by cart checkout alike:

1. reserve every line in the availability store (Redis, one atomic script):
   all lines or none; a short line is a 409 before PostgreSQL is touched;
2. one durable transaction on the primary: the order and its lines, the
   idempotency record, then for every line, in product-id order, the ledger
   row and ``on_hand = on_hand - q WHERE on_hand >= q``. The stock rows are
   updated last so that a hot product's row stays locked only until commit;
3. after commit, the reservation becomes a sale in Redis (the hold is dropped
   and the new on-hand applied by version).

PostgreSQL is the last word: if Redis was wrong (or down, in which case step
1 is skipped) a short line rolls everything back and the client gets the same
409. Nothing is ever half-written and no reservation is left behind: the hold
is one object (:class:`opply.catalog.reservations.Hold`) that reserves, sells
inside the transaction, and gives everything back on any failure.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from opply.catalog import reservations
from opply.catalog import selectors as catalog_selectors
from opply.common.errors import ApplicationError, ConflictError
from opply.common.observability import metrics
from opply.orders import events, lifecycle
from opply.orders.idempotency import Claim

# Raised here, defined with the life cycle (and imported from here by callers).
from opply.orders.lifecycle import OrderNotCancellable, OrderNotFound  # noqa: F401
from opply.orders.models import MAX_ORDER_TOTAL, Order, OrderLine
from opply.orders.selectors import order_representation

logger = logging.getLogger(__name__)

# A direct order's reservation lives only while the order is being placed;
# should the process die in between, the sweeper gives it back after this.
ORDER_HOLD_SECONDS = 120


@dataclass(frozen=True)
class LineRequest:
    product_id: UUID
    quantity: int


@dataclass(frozen=True)
class OrderResult:
    """An order as a use case left it, with its lines (no second read)."""

    order: Order
    lines: list[OrderLine]


class InsufficientStock(ConflictError):
    default_code = "insufficient_stock"


class UnknownProducts(ApplicationError):
    default_code = "validation_error"


def _insufficient(lines: Sequence[LineRequest], shortages: list[reservations.Shortage]) -> InsufficientStock:
    short = [{"product_id": str(s.product_id), "requested": s.requested, "available": s.available} for s in shortages]
    return InsufficientStock(
        "Not enough stock for every line; nothing was ordered.",
        lines=short,
        available=short[0]["available"] if len(short) == 1 else None,
    )


def _products(lines: Sequence[LineRequest]) -> dict[UUID, catalog_selectors.ProductForOrder]:
    products = catalog_selectors.products_for_order(line.product_id for line in lines)
    errors = {}
    for index, line in enumerate(lines):
        product = products.get(line.product_id)
        if product is None or not product.is_active:
            errors[index] = {"product_id": ["No product with this id is for sale."]}
    if errors:
        raise UnknownProducts(
            "Some items name products that are not for sale.",
            errors={"items": [errors.get(i, {}) for i in range(len(lines))]},
        )
    return products


def order_place(
    *,
    customer_id: UUID,
    lines: Sequence[LineRequest],
    idempotency: Claim | None = None,
    holder: str | None = None,
) -> OrderResult:
    """Place an order, all or nothing.

    ``holder`` names a reservation that already covers ``lines`` (a checked-out
    cart): it is sold on success and left to the caller on failure. Without
    it the lines are reserved here first (under the idempotency key's holder
    when there is one, so that a retry after a dead attempt reuses that
    attempt's reservation), and released on any failure.
    Raises :class:`InsufficientStock` (409) with the available quantity of
    every short line; nothing is ever written in part.
    """
    products = _products(lines)
    total = sum((products[line.product_id].price * line.quantity for line in lines), Decimal("0.00"))
    if total > MAX_ORDER_TOTAL:
        message = f"The order would total {total:.2f}; one order can total at most {MAX_ORDER_TOTAL}. Split it."
        raise ApplicationError(message, "order_total_too_large", errors={"items": [message]})
    order_id = uuid.uuid4()
    source = "order" if holder is None else "checkout"
    order_lines = [
        OrderLine(
            product_id=line.product_id,
            product_name=products[line.product_id].name,
            unit_price=products[line.product_id].price,
            quantity=line.quantity,
            line_total=products[line.product_id].price * line.quantity,
        )
        for line in lines
    ]
    adopt = holder is not None
    if holder is None:
        holder = idempotency.holder if idempotency is not None else reservations.order_holder(order_id)
    quantities = {line.product_id: line.quantity for line in lines}
    try:
        # The hold is entered first and left last: it is sold in the
        # transaction, handed to the store after the commit, and released if
        # anything fails in between.
        with (
            reservations.Hold(holder, quantities, ttl_seconds=ORDER_HOLD_SECONDS, adopt=adopt) as hold,
            transaction.atomic(durable=True),
        ):
            # Asynchronous mode: the store's hold is the acceptance and the
            # fulfilment worker sells it later; if Redis is down there is no
            # hold, and PostgreSQL decides at once as in synchronous mode.
            pending = settings.ORDER_FULFILMENT == "async" and hold.in_store
            order = Order(
                public_id=order_id,
                customer_id=customer_id,
                status=Order.Status.PENDING if pending else Order.Status.CONFIRMED,
                total=total,
                holder=holder if pending else "",
            )
            _insert_order(order, order_lines)
            if idempotency is not None:
                idempotency.complete(status=202 if pending else 201, body=order_representation(order, order_lines))
            # order.placed (pending) or order.confirmed; the outbox publishes it after the commit.
            events.record_transition(order, order_lines)
            if pending:
                # No stock row is touched: the worker applies it in a batch.
                hold.keep(ttl_seconds=settings.PENDING_ORDER_HOLD_SECONDS)
            else:
                # Last, so that hot stock rows stay locked only until the commit.
                hold.sell(reason="order", reference=str(order_id))
    except reservations.OutOfStock as exc:
        metrics.reservation_refused(source=source, decided_by=exc.decided_by)
        raise _insufficient(lines, exc.shortages) from None
    metrics.order_placed(fulfilment="async" if pending else "sync")
    metrics.order_transition(order.status)
    return OrderResult(order, order_lines)


_INSERT_ORDER_SQL = """
    WITH new_order AS (
        INSERT INTO "orders"."order" (public_id, customer_id, status, total, created_at, updated_at,
                                      status_changed_at, confirmed_at, status_reason, holder)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '', %s)
        RETURNING id
    ), new_lines AS (
        INSERT INTO "orders"."order_line" (order_id, product_id, product_name, unit_price, quantity, line_total)
        SELECT new_order.id, line.*
          FROM new_order,
               unnest(%s::uuid[], %s::varchar[], %s::numeric[], %s::integer[], %s::numeric[])
               AS line(product_id, product_name, unit_price, quantity, line_total)
    )
    SELECT id FROM new_order
"""


def _insert_order(order: Order, lines: list[OrderLine]) -> None:
    """Insert the order and its lines in one round trip (this is the hottest
    write path: two ORM inserts cost a round trip and most of a millisecond
    of Python more). Fills in ``order.id`` and the timestamps."""
    order.created_at = order.updated_at = order.status_changed_at = timezone.now()
    order.confirmed_at = order.created_at if order.status == Order.Status.CONFIRMED else None
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ORDER_SQL,
            [
                order.public_id,
                order.customer_id,
                order.status,
                order.total,
                order.created_at,
                order.updated_at,
                order.status_changed_at,
                order.confirmed_at,
                order.holder,
                [line.product_id for line in lines],
                [line.product_name for line in lines],
                [line.unit_price for line in lines],
                [line.quantity for line in lines],
                [line.line_total for line in lines],
            ],
        )
        order.id = cursor.fetchone()[0]
    for line in lines:
        line.order = order


def order_cancel(*, order_id: UUID, customer_id: UUID | None = None, by: str = "customer") -> OrderResult:
    """Cancel a confirmed order: its stock returns, with ledger rows.

    ``customer_id`` scopes it to the customer's own orders (None: staff's
    view of every order). Any status but ``confirmed`` is a 409, a second
    cancel included (the row lock serialises concurrent transitions).
    """
    with transaction.atomic(durable=True):
        order = lifecycle.lock_order(order_id, customer_id=customer_id)
        lifecycle.check_transition(order, Order.Status.CANCELLED)
        lines = list(order.lines.all())
        products = catalog_selectors.products_for_order(line.product_id for line in lines)
        missing = [str(line.product_id) for line in lines if line.product_id not in products]
        if missing:
            # Never return only part of an order's stock: refuse, loudly.
            logger.error("cancel of order %s: products %s are not in the database", order.public_id, missing)
            raise ConflictError("Some of this order's products no longer exist; it cannot be cancelled here.", "order_products_missing")
        lifecycle.enter(order, Order.Status.CANCELLED, reason=f"cancelled by {by}")
        try:
            reservations.restock({line.product_id: line.quantity for line in lines}, reason="cancel", reference=str(order.public_id))
        except reservations.StockAboveLimit:
            # The returned units would take a product past MAX_ON_HAND: say so
            # rather than fail the statement (the transaction rolls back).
            raise OrderNotCancellable(
                "The returned stock would exceed the most one product can have on hand; contact staff.", order_status=Order.Status.CONFIRMED
            ) from None
        events.record_transition(order, lines)
    return OrderResult(order, lines)
