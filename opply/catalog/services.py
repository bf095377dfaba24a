"""Writes of the catalog: categories, products and staff stock adjustments.

Every write bumps the catalog version after commit so the very next list read
misses the cache and sees it.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import ProtectedError
from redis.exceptions import RedisError

from opply.catalog import inventory
from opply.catalog.cache import bump_catalog_version
from opply.catalog.listing import refresh_after_change, refresh_in_stock
from opply.catalog.models import MAX_ON_HAND, Category, Product, Stock, StockMovement
from opply.catalog.stock import Movement, OnHand, StockAboveLimit, StockShortage, apply_stock_movements
from opply.common.errors import ProblemError

logger = logging.getLogger(__name__)


class CatalogConflict(ProblemError):
    status_code = 409
    default_code = "conflict"


def _unique_violation(field: str, message: str) -> ProblemError:
    return ProblemError(message, "validation_error", errors={field: [message]})


# --- Categories -------------------------------------------------------------------


def category_create(*, name: str, slug: str) -> Category:
    try:
        with transaction.atomic():
            category = Category.objects.create(name=name, slug=slug)
    except IntegrityError:
        raise _unique_violation("slug", "A category with this slug already exists.") from None
    transaction.on_commit(bump_catalog_version)
    return category


def category_update(*, category: Category, data: dict[str, Any]) -> Category:
    for field, value in data.items():
        setattr(category, field, value)
    try:
        with transaction.atomic():
            category.save(update_fields=list(data))
    except IntegrityError:
        raise _unique_violation("slug", "A category with this slug already exists.") from None
    transaction.on_commit(bump_catalog_version)
    return category


def category_delete(*, category: Category) -> None:
    try:
        with transaction.atomic():
            category.delete()
    except ProtectedError:
        raise CatalogConflict("The category still has products; move or delete them first.", "category_in_use") from None
    transaction.on_commit(bump_catalog_version)


# --- Products ----------------------------------------------------------------------


def product_create(*, sku: str, name: str, price: Decimal, category: Category, quantity_in_stock: int, actor: str = "") -> Product:
    """A product with its initial stock (and the ledger row saying so)."""
    try:
        with transaction.atomic():
            product = Product.objects.create(sku=sku, name=name, price=price, category=category, in_stock=quantity_in_stock > 0)
            Stock.objects.create(product=product, on_hand=quantity_in_stock)
            if quantity_in_stock:
                StockMovement.objects.create(product=product, delta=quantity_in_stock, reason=StockMovement.Reason.INITIAL, reference=actor)
    except IntegrityError:
        raise _unique_violation("sku", "A product with this SKU already exists.") from None
    transaction.on_commit(bump_catalog_version)
    return product


def product_update(*, product: Product, data: dict[str, Any]) -> Product:
    for field, value in data.items():
        setattr(product, field, value)
    try:
        with transaction.atomic():
            product.save(update_fields=[*data, "updated_at"])
    except IntegrityError:
        raise _unique_violation("sku", "A product with this SKU already exists.") from None
    transaction.on_commit(bump_catalog_version)
    return product


def product_deactivate(*, product: Product) -> None:
    """Products are retired, not deleted: the ledger and past orders refer to them."""
    with transaction.atomic():
        product.is_active = False
        product.save(update_fields=["is_active", "updated_at"])
    transaction.on_commit(bump_catalog_version)


# --- Stock ---------------------------------------------------------------------------


def stock_adjust(*, product: Product, delta: int | None = None, quantity: int | None = None, actor: str = "") -> int:
    """Restock or write off (``delta``) or record a stock count (``quantity``).

    Returns the new on-hand quantity. On-hand never goes below zero (409,
    nothing changes) nor above ``MAX_ON_HAND`` (400 naming the field).
    """
    if (delta is None) == (quantity is None):
        raise ValueError("give exactly one of delta and quantity")
    with transaction.atomic():
        stock = Stock.objects.select_for_update().get(product=product)
        current = stock.on_hand
        field = "quantity" if quantity is not None else "delta"
        if quantity is not None:
            delta, reason = quantity - current, StockMovement.Reason.COUNT
        else:
            reason = StockMovement.Reason.RESTOCK if delta >= 0 else StockMovement.Reason.WRITE_OFF
        try:
            movements = apply_stock_movements([Movement(product.id, delta)], reason=reason, reference=actor)
        except StockShortage:
            raise CatalogConflict(f"Only {current} on hand: cannot remove {-delta}.", "stock_below_zero", on_hand=current) from None
        except StockAboveLimit:
            message = f"On hand would be {current + delta}; at most {MAX_ON_HAND} units of one product can be on hand."
            raise ProblemError(message, "stock_above_limit", errors={field: [message]}, on_hand=current, limit=MAX_ON_HAND) from None
        new = movements.get(product.id, OnHand(stock.on_hand, stock.version))  # a count that changed nothing
        transaction.on_commit(lambda: publish_on_hand({product.id: new}))
    return new.on_hand


def publish_on_hand(values: dict[int, OnHand]) -> None:
    """After a commit: push new on-hand values to the availability store and
    refresh the list flag of products whose availability crossed zero.

    If Redis is down the store keeps its older values (reconciliation and the
    next change of each product repair them); the flag is then derived from
    PostgreSQL.
    """
    try:
        changes = inventory.sync_on_hand(values)
    except RedisError:
        logger.warning("availability store unreachable: on-hand update for %s deferred to reconciliation", sorted(values))
        refresh_in_stock_quietly(sorted(values))
        return
    publish_availability_changes(changes)


def publish_availability_changes(changes: list[inventory.Change]) -> None:
    """After a reservation, release or commit: refresh the list flag of products
    whose availability crossed zero (rare; a no-op otherwise).

    Never raises for a database failure: the flag is derived, the change that
    caused it already happened (and may be committed), and the periodic
    resync and ``inventory_reconcile`` repair a flag left stale.
    """
    try:
        refresh_after_change({c.product_id: c.before for c in changes}, {c.product_id: c.after for c in changes})
    except DatabaseError as exc:
        logger.warning("in_stock flags not refreshed (%s); the periodic resync repairs them", exc)


def refresh_in_stock_quietly(product_ids: list[int]) -> None:
    """:func:`refresh_in_stock` after a change that already happened: a
    database failure is logged, never raised (see above)."""
    try:
        refresh_in_stock(product_ids)
    except DatabaseError as exc:
        logger.warning("in_stock flags of %s not refreshed (%s); the periodic resync repairs them", product_ids, exc)
