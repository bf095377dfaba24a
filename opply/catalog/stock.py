"""The one commit path for on-hand stock in PostgreSQL.

Every change of ``on_hand`` (initial stock, restock, write-off, count, order,
cancellation) goes through :func:`apply_stock_movements`: a conditional
``UPDATE`` per product, in product-id order, plus its ledger rows. PostgreSQL
is the last word: ``on_hand`` never goes below zero, whatever Redis says.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.db import connection

from opply.catalog.models import MAX_ON_HAND, Stock

# The bounds repeat the table's CHECK constraints so that a movement outside
# them updates no row (a clean StockShortage / StockAboveLimit) instead of
# failing the statement and with it the caller's transaction.
_UPDATE_SQL = """
    UPDATE "catalog"."stock"
       SET on_hand = on_hand + %s, version = version + 1, updated_at = now()
     WHERE product_id = %s AND on_hand + %s BETWEEN 0 AND %s
 RETURNING on_hand, version
"""


@dataclass(frozen=True)
class OnHand:
    """A product's on-hand stock as committed, with the version of that value."""

    on_hand: int
    version: int


@dataclass(frozen=True)
class Movement:
    product_id: int
    delta: int


class StockShortage(Exception):
    """A movement would take ``on_hand`` below zero; nothing may be committed."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"not enough stock for product {product_id}")
        self.product_id = product_id


class StockAboveLimit(Exception):
    """A movement would take ``on_hand`` above ``MAX_ON_HAND``; nothing may be committed."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"on hand of product {product_id} would exceed {MAX_ON_HAND}")
        self.product_id = product_id


def write_ledger(movements: Sequence[Movement], *, reason: str, reference: str | Sequence[str]) -> None:
    """One ledger row per movement, in one statement (every order writes here).
    ``reference`` is one for every row, or one per movement (a batch of orders)."""
    references = [reference] * len(movements) if isinstance(reference, str) else list(reference)
    rows = [(m, ref) for m, ref in zip(movements, references, strict=True) if m.delta]
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO "catalog"."stock_movement" (product_id, delta, reason, reference, created_at)
            SELECT product_id, delta, %s, reference, now()
              FROM unnest(%s::bigint[], %s::integer[], %s::varchar[]) AS m(product_id, delta, reference)
            """,
            [reason, [m.product_id for m, _ in rows], [m.delta for m, _ in rows], [ref for _, ref in rows]],
        )


def apply_stock_movements(
    movements: Sequence[Movement], *, reason: str, reference: str = "", ledger_written: bool = False
) -> dict[int, OnHand]:
    """Apply the movements and write the ledger; return the new on-hand per product.
    ``ledger_written``: the caller wrote the ledger rows itself (a batch of
    orders, one row per order line, with :func:`write_ledger`).

    Must run inside the caller's transaction on the primary (the order, the
    adjustment...): on :class:`StockShortage` or :class:`StockAboveLimit` the
    caller rolls everything back.
    The ledger rows are written first and the stock rows updated last, in
    product-id order: concurrent callers lock rows in one order (no deadlock)
    and hold each hot stock row for as short a time as possible, until commit.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("apply_stock_movements must run inside a transaction")
    ordered = sorted((m for m in movements if m.delta), key=lambda m: m.product_id)
    if not ledger_written:
        write_ledger(ordered, reason=reason, reference=reference)
    on_hand: dict[int, OnHand] = {}
    with connection.cursor() as cursor:
        for movement in ordered:
            cursor.execute(_UPDATE_SQL, [movement.delta, movement.product_id, movement.delta, MAX_ON_HAND])
            row = cursor.fetchone()
            if row is None:
                raise StockAboveLimit(movement.product_id) if movement.delta > 0 else StockShortage(movement.product_id)
            on_hand[movement.product_id] = OnHand(*row)
    return on_hand


def on_hand_batches(batch: int = 1000) -> Iterator[dict[int, OnHand]]:
    """Every product's committed on-hand stock, from the primary, ``batch``
    products at a time in product-id order (keyset: no OFFSET to rescan)."""
    last_id = 0
    while True:
        rows = list(
            Stock.objects.using("default")
            .filter(product_id__gt=last_id)
            .order_by("product_id")
            .values_list("product_id", "on_hand", "version")[:batch]
        )
        if not rows:
            return
        last_id = rows[-1][0]
        yield {pid: OnHand(on_hand, version) for pid, on_hand, version in rows}


def on_hand_of(product_ids: Iterable[int]) -> dict[int, OnHand]:
    """Current committed on-hand stock and its version, read from the primary."""
    rows = Stock.objects.using("default").filter(product_id__in=list(product_ids)).values_list("product_id", "on_hand", "version")
    return {product_id: OnHand(on_hand, version) for product_id, on_hand, version in rows}
