"""Reads of the catalog (served by the replica).

The product list is the most-read endpoint. A page (ids, names, prices,
categories and the total count) is built with a constant number of queries
and cached under the catalog version; live quantities are laid over it at
read time, so orders never invalidate it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404, QueryDict
from rest_framework.exceptions import ValidationError

from opply.catalog import availability, cache
from opply.catalog.filters import ProductFilter, category_lookup
from opply.catalog.models import Category, Product
from opply.common.serializers import timestamp

ROW_FIELDS = ("id", "public_id", "name", "sku", "price", "category__public_id", "category__name", "category__slug")


FILTER_PARAMETERS = ("category", "search", "min_price", "max_price", "in_stock", "ordering")
VALUE_REQUIRED = ("min_price", "max_price", "in_stock")


@dataclass(frozen=True)
class ProductQuery:
    """A product-list request: raw filter parameters, who asks, which page."""

    params: Mapping[str, list[str]]  # only FILTER_PARAMETERS, as sent
    is_staff: bool
    page: int
    page_size: int

    def cache_digest(self) -> str:
        # Keyed on the raw parameters, so that a cached page is served without
        # even building the filter set; only valid requests ever store a page.
        return cache.page_digest([sorted(self.params.items()), self.is_staff, self.page, self.page_size])


def category_list() -> QuerySet[Category]:
    return Category.objects.order_by("name", "id")


def category_get(public_id: UUID) -> Category | None:
    return Category.objects.filter(public_id=public_id).first()


def category_by_reference(reference: str) -> Category | None:
    return Category.objects.filter(**category_lookup(reference)).first()


def product_get(public_id: UUID, *, include_inactive: bool = False) -> Product | None:
    queryset = Product.objects.select_related("category").filter(public_id=public_id)
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    return queryset.first()


def product_queryset(query: ProductQuery) -> QuerySet[Product]:
    """The filtered, ordered queryset; a bad parameter is a 400 naming it."""
    # "min_price=" is a malformed number, not "no bound" (django-filter would
    # read an empty value as absent), and a parameter given twice is ambiguous.
    errors = {name: ["A value is required when the parameter is given."] for name in VALUE_REQUIRED if "" in query.params.get(name, [])}
    errors.update({name: ["Give this parameter once."] for name, values in query.params.items() if len(values) > 1})
    if errors:
        raise ValidationError(errors)
    filterset = ProductFilter(QueryDict(urlencode(query.params, doseq=True)), queryset=Product.objects.all())
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    queryset = filterset.qs
    if not query.is_staff:
        queryset = queryset.filter(is_active=True)
    in_stock = _in_stock_mode(filterset.form.cleaned_data.get("in_stock"), is_staff=query.is_staff)
    if in_stock is not None:
        queryset = queryset.filter(in_stock=in_stock)
    ordering = [*queryset.query.order_by] or ["name"]
    tie_breaker = "-id" if ordering[-1].startswith("-") else "id"
    return queryset.order_by(*ordering, tie_breaker)


def _in_stock_mode(requested: str | None, *, is_staff: bool) -> bool | None:
    """True: only what a customer can buy now; None: everything.

    Customers see only buyable products unless they ask ``in_stock=false``;
    staff see everything unless they ask ``in_stock=true``.
    """
    if requested == "true":
        return True
    if requested == "false":
        return None
    return None if is_staff else True


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


def product_page(query: ProductQuery) -> dict[str, Any]:
    """``{"count", "results"}`` for one page, each row with its live ``quantity_in_stock``.

    Cache-aside: on a hit the page and its quantities come from Redis in one
    round trip. On a miss (or with Redis down) the page comes from the
    database and the quantities from the availability store (or PostgreSQL).
    """
    digest = query.cache_digest()
    cached = cache.read_page(digest)
    page, quantities = cached.page, cached.available
    if page is None:
        page = _build_page(product_queryset(query), query)
        if cached.version:
            cache.write_page(cached.version, digest, page)
    missing = [row["pk"] for row in page["rows"] if row["pk"] not in quantities]
    if missing:
        quantities = {**quantities, **availability.available_quantities(missing)}
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
        "created_at": timestamp(product.created_at),
        "updated_at": timestamp(product.updated_at),
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
