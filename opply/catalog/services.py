"""Writes of the catalog: categories, products and staff stock adjustments.

Every write bumps the catalog version after commit so the very next list read
misses the cache and sees it.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from opply.catalog import reservations
from opply.catalog.cache import bump_catalog_version
from opply.catalog.models import MAX_ON_HAND, Category, Product, Stock, StockMovement
from opply.catalog.stock import Movement, OnHand, StockAboveLimit, StockShortage, apply_stock_movements
from opply.common.errors import ApplicationError, ConflictError
from opply.common.services import model_update

logger = logging.getLogger(__name__)


class CatalogConflict(ConflictError):
    pass


def _unique_violation(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, "validation_error", errors={field: [message]})


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
    model_update(
        instance=category, data=data, on_integrity_error=lambda: _unique_violation("slug", "A category with this slug already exists.")
    )
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
    model_update(
        instance=product, data=data, on_integrity_error=lambda: _unique_violation("sku", "A product with this SKU already exists.")
    )
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
            raise ApplicationError(message, "stock_above_limit", errors={field: [message]}, on_hand=current, limit=MAX_ON_HAND) from None
        new = movements.get(product.id, OnHand(stock.on_hand, stock.version))  # a count that changed nothing
        transaction.on_commit(lambda: reservations.publish_on_hand({product.id: new}))
    return new.on_hand
