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
409. Nothing is ever half-written and no reservation is left behind.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from opply.catalog import inventory
from opply.catalog import selectors as catalog_selectors
from opply.catalog.services import publish_availability_changes, publish_on_hand, refresh_in_stock_quietly
from opply.catalog.stock import Movement, StockAboveLimit, StockShortage, apply_stock_movements, on_hand_of
from opply.common.errors import ProblemError
from opply.common.observability import metrics
from opply.orders.idempotency import Claim
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


class InsufficientStock(ProblemError):
    status_code = 409
    default_code = "insufficient_stock"


class OrderNotCancellable(ProblemError):
    status_code = 409
    default_code = "order_not_cancellable"


class UnknownProducts(ProblemError):
    status_code = 400
    default_code = "validation_error"


def _insufficient(lines: Sequence[LineRequest], available: dict[UUID, int]) -> InsufficientStock:
    short = [
        {"product_id": str(line.product_id), "requested": line.quantity, "available": max(available.get(line.product_id, 0), 0)}
        for line in lines
        if line.quantity > available.get(line.product_id, 0)
    ]
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


def _current_availability(lines: Sequence[LineRequest], products: dict[UUID, catalog_selectors.ProductForOrder]) -> dict[UUID, int]:
    """Availability per line after a refusal: Redis if it answers, else PostgreSQL on-hand."""
    ids = {products[line.product_id].id: line.product_id for line in lines}
    try:
        by_id = inventory.available(ids)
    except RedisError:
        by_id = {pid: value.on_hand for pid, value in on_hand_of(ids).items()}
    return {ids[pid]: value for pid, value in by_id.items()}


def _reserve(holder: str, lines: Sequence[LineRequest], products: dict[UUID, catalog_selectors.ProductForOrder]) -> bool:
    """Reserve every line for ``holder``; False if Redis is down (PostgreSQL alone decides)."""
    quantities = {products[line.product_id].id: line.quantity for line in lines}
    try:
        # To these quantities, not by them: a retry reusing the holder of an
        # attempt that died (see Claim.holder) holds each unit once.
        result = inventory.adjust_hold(holder, quantities, ttl_seconds=ORDER_HOLD_SECONDS, absolute=True)
    except RedisError:
        logger.warning("availability store unreachable: placing the order on PostgreSQL alone")
        return False
    if not result.ok:
        metrics.reservation_refused(source="order", decided_by="store")
        by_public = {products[line.product_id].id: line.product_id for line in lines}
        available = {line.product_id: line.quantity for line in lines}
        available.update({by_public[pid]: value for pid, value in result.short.items()})
        raise _insufficient(lines, available)
    publish_availability_changes(result.changes)
    return True


def _release(holder: str) -> None:
    try:
        publish_availability_changes(inventory.release_hold(holder))
    except RedisError:
        # The hold expires and the sweeper gives it back once Redis answers.
        logger.warning("could not release hold %s now; the sweeper will", holder)


def order_place(
    *,
    customer_id: UUID,
    lines: Sequence[LineRequest],
    idempotency: Claim | None = None,
    holder: str | None = None,
) -> Order:
    """Place an order, all or nothing.

    ``holder`` names a reservation that already covers ``lines`` (a checked-out
    cart): it is committed on success and left to the caller on failure.
    Without it the lines are reserved here first (under the idempotency
    key's holder when there is one, so that a retry after a dead attempt
    reuses that attempt's reservation), and released on any failure.
    Raises :class:`InsufficientStock` (409) with the available quantity of
    every short line; nothing is ever written in part.
    """
    products = _products(lines)
    total = sum((products[line.product_id].price * line.quantity for line in lines), Decimal("0.00"))
    if total > MAX_ORDER_TOTAL:
        message = f"The order would total {total:.2f}; one order can total at most {MAX_ORDER_TOTAL}. Split it."
        raise ProblemError(message, "order_total_too_large", errors={"items": [message]})
    order_id = uuid.uuid4()
    source = "order" if holder is None else "checkout"
    movements = [Movement(products[line.product_id].id, -line.quantity) for line in lines]
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
    releases_on_failure = False
    if holder is None:
        holder = idempotency.holder if idempotency is not None else f"order:{order_id}"
        releases_on_failure = _reserve(holder, lines, products)
    # Whatever fails from here until the commit (a timeout, a dropped
    # connection, a bug) gives the reservation back: nothing may stay held.
    try:
        with transaction.atomic(durable=True):
            order = Order(
                public_id=order_id,
                customer_id=customer_id,
                status=Order.Status.CONFIRMED,
                total=total,
            )
            _insert_order(order, order_lines)
            if idempotency is not None:
                idempotency.complete(status=201, body=order_representation(order, order_lines))
            # Last, so that hot stock rows stay locked only until the commit.
            committed = apply_stock_movements(movements, reason="order", reference=str(order_id))
    except StockShortage:
        metrics.reservation_refused(source=source, decided_by="database")
        if releases_on_failure:
            _release(holder)
        # Redis thought there was enough: bring it back in line with PostgreSQL.
        _resync([m.product_id for m in movements])
        raise _insufficient(lines, _current_availability(lines, products)) from None
    except BaseException:
        if releases_on_failure:
            _release(holder)
        raise

    # Committed: nothing below may fail the request (the client would retry
    # an order that exists). Redis and the list flags catch up on their own.
    metrics.order_placed(fulfilment="sync")
    metrics.order_transition(Order.Status.CONFIRMED)
    sold = {m.product_id: (-m.delta, committed[m.product_id]) for m in movements}
    try:
        changes = inventory.commit_hold(holder, sold)
    except RedisError:
        logger.warning("availability store unreachable after order %s; reconciliation will apply it", order_id)
        # The list flag can still follow PostgreSQL (a product that sold out
        # while Redis is down must leave the list now, not after a resync).
        refresh_in_stock_quietly(sorted(sold))
    else:
        publish_availability_changes(changes)
    order.prefetched_lines = order_lines  # type: ignore[attr-defined]
    return order


_INSERT_ORDER_SQL = """
    WITH new_order AS (
        INSERT INTO "orders"."order" (public_id, customer_id, status, total, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s)
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
    order.created_at = order.updated_at = timezone.now()
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


def _resync(product_ids: list[int]) -> None:
    try:
        publish_availability_changes(inventory.rebuild_from_database(product_ids))
    except RedisError:
        logger.warning("availability store unreachable: resync of %s left to reconciliation", product_ids)


def order_cancel(*, customer_id: UUID, order_id: UUID) -> Order:
    """Cancel a confirmed order: its stock returns, with ledger rows. A second cancel is a 409."""
    with transaction.atomic(durable=True):
        order = Order.objects.select_for_update().filter(public_id=order_id, customer_id=customer_id).first()
        if order is None:
            raise ProblemError("No order with this id.", "not_found", status_code=404)
        if order.status != Order.Status.CONFIRMED:
            raise OrderNotCancellable(f"An order that is {order.status} cannot be cancelled.", order_status=order.status)
        lines = list(order.lines.all())
        products = catalog_selectors.products_for_order(line.product_id for line in lines)
        missing = [str(line.product_id) for line in lines if line.product_id not in products]
        if missing:
            # Never return only part of an order's stock: refuse, loudly.
            logger.error("cancel of order %s: products %s are not in the database", order.public_id, missing)
            raise ProblemError(
                "Some of this order's products no longer exist; it cannot be cancelled here.", "order_products_missing", status_code=409
            )
        order.status = Order.Status.CANCELLED
        order.save(update_fields=["status", "updated_at"])
        try:
            committed = apply_stock_movements(
                [Movement(products[line.product_id].id, line.quantity) for line in lines],
                reason="cancel",
                reference=str(order.public_id),
            )
        except StockAboveLimit:
            # The returned units would take a product past MAX_ON_HAND: say so
            # rather than fail the statement (the transaction rolls back).
            raise OrderNotCancellable(
                "The returned stock would exceed the most one product can have on hand; contact staff.", order_status=Order.Status.CONFIRMED
            ) from None
        transaction.on_commit(lambda: publish_on_hand(committed))
    metrics.order_transition(Order.Status.CANCELLED)
    order.prefetched_lines = lines  # type: ignore[attr-defined]
    return order
