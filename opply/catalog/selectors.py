"""Reads of the catalog (served by the replica).

The product list is the most-read endpoint. A page (ids, names, prices,
categories and the total count) is built with a constant number of queries
and cached under the catalog version; live quantities are laid over it at
read time, so orders never invalidate it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from opply.catalog import availability, cache
from opply.catalog.filters import ProductFilter
from opply.catalog.models import Category, Product

ROW_FIELDS = ("id", "public_id", "name", "sku", "price", "category__public_id", "category__name", "category__slug")


@dataclass(frozen=True)
class ProductQuery:
    """A validated product-list request, in canonical form (it keys the cache)."""

    filters: dict[str, Any]
    in_stock: bool | None  # True: in stock only; None: everything
    include_inactive: bool
    page: int
    page_size: int

    def cache_params(self) -> dict[str, Any]:
        return {
            "filters": self.filters,
            "in_stock": self.in_stock,
            "include_inactive": self.include_inactive,
            "page": self.page,
            "page_size": self.page_size,
        }


def category_list() -> QuerySet[Category]:
    return Category.objects.order_by("name", "id")


def category_get(public_id: UUID) -> Category | None:
    return Category.objects.filter(public_id=public_id).first()


def product_get(public_id: UUID, *, include_inactive: bool = False) -> Product | None:
    queryset = Product.objects.select_related("category").filter(public_id=public_id)
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    return queryset.first()


def product_queryset(query: ProductQuery, filterset: ProductFilter) -> QuerySet[Product]:
    queryset = filterset.qs
    if not query.include_inactive:
        queryset = queryset.filter(is_active=True)
    if query.in_stock is not None:
        queryset = queryset.filter(in_stock=query.in_stock)
    ordering = [*queryset.query.order_by] or ["name"]
    tie_breaker = "-id" if ordering[-1].startswith("-") else "id"
    return queryset.order_by(*ordering, tie_breaker)


def _row(values: dict[str, Any]) -> dict[str, Any]:
    price: Decimal = values["price"]
    return {
        "pk": values["id"],  # internal: used for the quantity overlay, never rendered
        "id": str(values["public_id"]),
        "name": values["name"],
        "sku": values["sku"],
        "price": f"{price:.2f}",
        "category": {"id": str(values["category__public_id"]), "name": values["category__name"], "slug": values["category__slug"]},
    }


def _build_page(queryset: QuerySet[Product], query: ProductQuery) -> dict[str, Any]:
    count = queryset.count()
    offset = (query.page - 1) * query.page_size
    if offset >= count and query.page != 1:
        raise Http404("Invalid page.")
    rows = [_row(values) for values in queryset.values(*ROW_FIELDS)[offset : offset + query.page_size]]
    return {"count": count, "rows": rows}


def product_page(query: ProductQuery, filterset: ProductFilter) -> dict[str, Any]:
    """``{"count", "rows"}`` for one page, each row with its live ``quantity_in_stock``.

    Cache-aside: the page without quantities comes from Redis when it can,
    else from the database (also when Redis is down).
    """
    version = cache.catalog_version()
    key = cache.page_key(version, query.cache_params()) if version else None
    page = cache.get_page(key) if key else None
    if page is None:
        page = _build_page(product_queryset(query, filterset), query)
        if key:
            cache.set_page(key, page)
    quantities = availability.available_quantities(row["pk"] for row in page["rows"])
    results = [
        {**{k: v for k, v in row.items() if k != "pk"}, "quantity_in_stock": max(quantities.get(row["pk"], 0), 0)} for row in page["rows"]
    ]
    return {"count": page["count"], "results": results}


def product_detail(product: Product) -> dict[str, Any]:
    quantity = availability.available_quantities([product.id]).get(product.id, 0)
    return {
        "id": str(product.public_id),
        "name": product.name,
        "sku": product.sku,
        "price": f"{product.price:.2f}",
        "quantity_in_stock": max(quantity, 0),
        "category": {"id": str(product.category.public_id), "name": product.category.name, "slug": product.category.slug},
        "is_active": product.is_active,
        "created_at": product.created_at.isoformat(),
        "updated_at": product.updated_at.isoformat(),
    }


def stock_ledger_mismatches() -> list[tuple[str, int, int]]:
    """Products whose on-hand stock differs from the sum of their ledger: (sku, on_hand, ledger_sum)."""
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(
            """
            SELECT p.sku, s.on_hand, COALESCE(m.total, 0)
              FROM "catalog"."stock" s
              JOIN "catalog"."product" p ON p.id = s.product_id
              LEFT JOIN (SELECT product_id, SUM(delta) AS total FROM "catalog"."stock_movement" GROUP BY product_id) m
                ON m.product_id = s.product_id
             WHERE s.on_hand <> COALESCE(m.total, 0)
             ORDER BY p.sku
            """
        )
        return [(sku, on_hand, int(total)) for sku, on_hand, total in cursor.fetchall()]


@dataclass(frozen=True)
class ProductForOrder:
    """What the orders module needs to know of a product at order time."""

    id: int
    public_id: UUID
    name: str
    price: Decimal
    is_active: bool


def products_for_order(public_ids: Iterable[UUID]) -> dict[UUID, ProductForOrder]:
    """Current name, price and status of these products, read from the primary
    (an order must never be priced from a lagging replica)."""
    rows = (
        Product.objects.using("default").filter(public_id__in=list(public_ids)).values_list("id", "public_id", "name", "price", "is_active")
    )
    return {row[1]: ProductForOrder(*row) for row in rows}


def product_summaries(product_ids: Iterable[int]) -> dict[int, ProductForOrder]:
    """The same, by internal id (for carts, which hold internal ids)."""
    rows = Product.objects.filter(id__in=list(product_ids)).values_list("id", "public_id", "name", "price", "is_active")
    return {row[0]: ProductForOrder(*row) for row in rows}
