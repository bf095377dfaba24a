"""Which plans PostgreSQL picks for every list the API documents.

Every combination of the list's filters (category, search, price range,
in-stock mode) with every ordering, as a first page, a shallow ``page`` and a
deep cursor, for a customer and for staff, is built through the selector
(nothing cached) while its SQL is captured, and each captured statement on
the product table is explained. A sequential scan of the product table in
any of them is a finding: at a million products it reads the whole table.
So is a customer's category list that walks the whole list's index testing
each row's category (rather than the category's own index): with few listed
products in the category, that too reads everything.

Used by the test suite at a realistic size (opply/catalog/tests/
test_query_plans.py) and by ``manage.py catalog_query_plans`` against any
database (the benchmark's million products).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Max, Min
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from opply.catalog import cache, selectors
from opply.catalog.filters import ORDERING_VALUES
from opply.catalog.models import Category, Product
from opply.catalog.pagination import MAX_PAGE, ProductCursorPagination, cursor_after

PRODUCT_TABLE = "product"


@dataclass(frozen=True)
class Finding:
    params: dict[str, Any]
    is_staff: bool
    sql: str
    plan: dict[str, Any]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def seq_scans(plan: dict[str, Any]) -> list[str]:
    return [node.get("Relation Name", "") for node in _nodes(plan) if node["Node Type"] == "Seq Scan"]


def category_walks(plan: dict[str, Any]) -> list[str]:
    """Indexes of the whole list walked while testing each row's category:
    a read of the whole index when the category has few listed products."""
    return [
        node.get("Index Name", "")
        for node in _nodes(plan)
        if node["Node Type"] in ("Index Scan", "Index Only Scan")
        and node.get("Relation Name") == PRODUCT_TABLE
        and "category_id" in node.get("Filter", "")
    ]


def documented_lists(search_words: list[str]) -> Iterator[dict[str, Any]]:
    """Every documented combination of filters and orderings (``search_words``:
    a broad and a narrow search of the data at hand)."""
    category = Category.objects.order_by("id").values_list("slug", flat=True).first()
    filters: list[dict[str, str]] = [
        {},
        {"category": category},
        {"min_price": "10.00", "max_price": "10.50"},
        {"min_price": "5", "max_price": "80"},
        {"category": category, "min_price": "5", "max_price": "80"},
        *({"search": word} for word in search_words),
        *({"search": word, "category": category} for word in search_words),
        {"search": search_words[0], "min_price": "5", "max_price": "80"},
    ]
    for base, ordering, in_stock in itertools.product(filters, [None, *ORDERING_VALUES], [None, "false"]):
        params = dict(base)
        if ordering:
            params["ordering"] = ordering
        if in_stock:
            params["in_stock"] = in_stock
        yield params


def _query(params: dict[str, Any], *, is_staff: bool, page: int = 1, cursor: str | None = None) -> selectors.ProductQuery:
    position = None
    if cursor is not None:
        from rest_framework.request import Request
        from rest_framework.test import APIRequestFactory

        request = Request(APIRequestFactory().get("/", {"cursor": cursor}))
        position = ProductCursorPagination().position(request)
    return selectors.ProductQuery(
        params={name: [value] for name, value in params.items()},
        is_staff=is_staff,
        page=page,
        page_size=20,
        cursor=cursor,
        position=position,
    )


def _deep_cursor(params: dict[str, Any]) -> str | None:
    """A cursor positioned on a product half-way through the table (found by primary key)."""
    ordering = params.get("ordering") or "name"
    bounds = Product.objects.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return None
    middle = (bounds["low"] + bounds["high"]) // 2
    row = Product.objects.filter(id__gte=middle).order_by("id").values("public_id", "name", "price", "created_at").first()
    return None if row is None else cursor_after(row, ordering)


def explain_lists(search_words: list[str]) -> tuple[int, list[Finding]]:
    """(statements explained, those with a sequential scan of the product table)."""
    explained = 0
    findings: list[Finding] = []
    no_cache = cache.CachedPage(None, None)
    for params, is_staff in itertools.product(documented_lists(search_words), [False, True]):
        variants = [_query(params, is_staff=is_staff), _query(params, is_staff=is_staff, page=MAX_PAGE)]
        deep = None if "search" in params and not params.get("ordering") else _deep_cursor(params)
        if deep is not None:
            variants.append(_query(params, is_staff=is_staff, cursor=deep))
        for query in variants:
            # A page past the end (404): its SQL still counts.
            with CaptureQueriesContext(connections["replica"]) as captured, contextlib.suppress(Http404):
                selectors._build_page(query, no_cache)
            for statement in captured.captured_queries:
                sql = statement["sql"]
                if f'"catalog"."{PRODUCT_TABLE}"' not in sql or not sql.lstrip().upper().startswith("SELECT"):
                    continue
                with connections["replica"].cursor() as cursor:
                    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
                    raw = cursor.fetchone()[0]
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
                explained += 1
                # Customers' lists have an index per category and ordering
                # (staff's category lists walk the whole list by name or date:
                # every category has a share of all products).
                listed = not is_staff and params.get("in_stock") != "false"
                if PRODUCT_TABLE in seq_scans(plan) or (listed and category_walks(plan)):
                    findings.append(Finding(params, is_staff, sql, plan))
    return explained, findings
