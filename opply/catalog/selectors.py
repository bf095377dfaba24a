"""Reads of the catalog (served by the replica).

The product list is the most-read endpoint. A page (ids, names, prices,
categories, the count and the cursors of its neighbours) is built with a
constant number of queries, each served by an index at any depth (keyset
pagination, opply/catalog/pagination.py; full-text search,
opply/catalog/search.py), and cached under the catalog version and its tag's
generation (opply/catalog/cache.py); live quantities are laid over it at read
time, so orders never invalidate it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.db import connections
from django.db.models import BooleanField, F, FloatField, Func, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.http import Http404, QueryDict
from rest_framework.exceptions import ValidationError

from opply.catalog import availability, cache, search
from opply.catalog.filters import ProductFilter, category_lookup
from opply.catalog.models import Category, Product
from opply.catalog.pagination import SORT_FIELDS, Ordering, Position, ProductCursorPagination
from opply.common.prefetch import MISSING, Prefetch

ROW_FIELDS = ("id", "public_id", "name", "sku", "price", "category__public_id", "category__name", "category__slug")

FILTER_PARAMETERS = ("category", "search", "min_price", "max_price", "in_stock", "ordering")
VALUE_REQUIRED = ("min_price", "max_price", "in_stock")

# Counts up to this many matches are exact (counting them reads at most this
# many index entries); past it the count is the planner's estimate, flagged
# as such (``count_exact: false``), and cached with the list.
EXACT_COUNT_LIMIT = 1000
# A list the planner estimates past this is not counted (counting even its
# first thousand rows reads whole posting lists of the search index, or walks
# an index far). Estimates of full-text matches are good to a factor of a
# few, so the cut-off sits at the limit itself.
ESTIMATE_ONLY_ABOVE = EXACT_COUNT_LIMIT

# Below and above every public id (random UUIDs are never either): a row
# comparison with one of them takes every row of its key value.
MIN_UUID = UUID(int=0)
MAX_UUID = UUID(int=2**128 - 1)

# The type of a position's value in the row comparison of a keyset page.
_KEY_PLACEHOLDER = {"name": "%s", "price": "%s::numeric", "created_at": "%s::timestamptz", "relevance": "%s::real"}


class KeysetAfter(Func):
    """``(key, public_id) > (value, id)`` (or ``<``): a row comparison, which
    PostgreSQL matches to the (key, public_id) index and walks from the
    position, whatever its depth. The ORM has no such lookup; as an
    expression its columns are compiled by the query that uses it, so they
    name the right table also inside a subquery (the search window)."""

    output_field = BooleanField()

    def __init__(
        self, key: Any, *, descending: bool, placeholder: str, value: Any, public_id: UUID, category_id: int | None = None
    ) -> None:
        # With a category, the row starts with it: (category_id, key,
        # public_id), the columns of the category's index, so that the
        # position is where that index's walk starts.
        leading = [F("category_id")] if category_id is not None else []
        super().__init__(*leading, key, F("public_id"))
        self.operator = "<" if descending else ">"
        self.placeholders = ["%s"] * len(leading) + [placeholder, "%s::uuid"]
        self.position = [*([category_id] if category_id is not None else []), value, str(public_id)]

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:
        compiled = [compiler.compile(e) for e in self.get_source_expressions()]
        columns = ", ".join(sql for sql, _ in compiled)
        sql = f"({columns}) {self.operator} ({', '.join(self.placeholders)})"
        return sql, [*(p for _, params in compiled for p in params), *self.position]


# Part of every page's cache key: a deploy that changes what a cached page
# holds never reads the pages the previous release wrote (same version key).
PAGE_FORMAT = 3

RELEVANCE = Ordering("relevance", descending=True)
NEWEST = Ordering("created_at", descending=True)


@dataclass(frozen=True)
class ProductQuery:
    """A product-list request: raw filter parameters, who asks, which page."""

    params: Mapping[str, list[str]]  # only FILTER_PARAMETERS, as sent
    is_staff: bool
    page: int  # 1 when a cursor is given
    page_size: int
    cursor: str | None = None  # the raw token, for the cache key
    position: Position | None = None  # the decoded cursor

    @cached_property
    def cache_digest(self) -> str:
        # Computed once per request (the prefetch and the page both need it).
        # Keyed on the raw parameters, so that a cached page is served without
        # even building the filter set; only valid requests ever store a page.
        return cache.page_digest([PAGE_FORMAT, sorted(self.params.items()), self.is_staff, self.page, self.page_size, self.cursor])

    @cached_property
    def count_digest(self) -> str:
        """The filter set alone: every page and ordering of a list shares its count."""
        return cache.page_digest([sorted((k, v) for k, v in self.params.items() if k != "ordering"), self.is_staff, "count"])

    @cached_property
    def cache_tag(self) -> str | None:
        """Which stock flips can change this list (opply/catalog/cache.py): None
        when it shows out-of-stock products too, else its most selective filter."""
        in_stock = self.params.get("in_stock", [""])[-1]
        if in_stock == "false" or (self.is_staff and in_stock != "true"):
            return None
        term = self.params.get("search", [""])[-1]
        if term.strip():
            return search.search_tag(term)
        category = self.params.get("category", [""])[-1]
        if category:
            return f"c:{_category_reference(category)}"
        return "all"


def _category_reference(reference: str) -> str:
    lookup = category_lookup(reference)
    return str(lookup.get("public_id") or lookup["slug"])


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


@dataclass(frozen=True)
class FilteredProducts:
    queryset: QuerySet[Product]  # filtered, not ordered
    ordering: Ordering | None  # None: not given (a search may then rank)
    search: str | None  # the tsquery of ?search=, if any
    # The same filters without a full-text search (None: the list is no
    # full-text search; an exact SKU is not one): see _first_matches.
    unsearched: QuerySet[Product] | None = None
    # The category filtered on, if any, and whether the list is the
    # customers' (listed products only): which (category, key) indexes exist.
    category_id: int | None = None
    listed: bool = False
    # Where the search's matches lie per sort field (search.Expansion.bounds).
    bounds: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    # The list without its category and search, for a bounded walk of the
    # category's index (whose bounds hold the category: see _build_page).
    uncategorized: QuerySet[Product] | None = None

    def category_index_serves(self, ordering: Ordering) -> bool:
        """Whether an index of (category, key, public_id) serves this list in
        this ordering: listed products have one per key (opply/catalog/models.py)."""
        return self.category_id is not None and self.listed and ordering.key in ("name", "price", "created_at")


def product_queryset(query: ProductQuery) -> FilteredProducts:
    """The filtered queryset and the requested ordering; a bad parameter is a 400 naming it."""
    # "min_price=" is a malformed number, not "no bound" (django-filter would
    # read an empty value as absent), and a parameter given twice is ambiguous.
    errors = {name: ["A value is required when the parameter is given."] for name in VALUE_REQUIRED if "" in query.params.get(name, [])}
    errors.update({name: ["Give this parameter once."] for name, values in query.params.items() if len(values) > 1})
    if errors:
        raise ValidationError(errors)
    filterset = ProductFilter(QueryDict(urlencode(query.params, doseq=True)), queryset=Product.objects.all())
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    orderings = filterset.form.cleaned_data.get("ordering") or []
    if len(orderings) > 1:
        # Each single key has its index; a combination would sort in memory.
        raise ValidationError({"ordering": ["Give one sort key (such as -price), not several."]})
    queryset = filterset.qs.order_by()
    if not query.is_staff:
        queryset = queryset.filter(is_active=True)
    in_stock = _in_stock_mode(filterset.form.cleaned_data.get("in_stock"), is_staff=query.is_staff)
    if in_stock is not None:
        queryset = queryset.filter(in_stock=in_stock)
    uncategorized = queryset
    if filterset.category_id is not None:
        queryset = in_category(queryset, filterset.category_id)
    term = (filterset.form.cleaned_data.get("search") or "").strip()
    ordering = Ordering.parse(orderings[0]) if orderings else None
    category = {"category_id": filterset.category_id, "listed": in_stock is True and not query.is_staff}
    if not term:
        return FilteredProducts(queryset, ordering, None, **category)
    searched, expansion = search.filter_search(queryset, term, listed=category["listed"], category_id=filterset.category_id)
    if expansion is None:
        # An exact SKU (or a search that matches nothing) keeps the plain
        # prefix query: it ranks the one row, and a cursor's ordering stays.
        return FilteredProducts(searched, ordering, search.tsquery(term), **category)
    return FilteredProducts(searched, ordering, expansion.query, queryset, bounds=expansion.bounds, uncategorized=uncategorized, **category)


def in_category(queryset: QuerySet[Product], category_id: int) -> QuerySet[Product]:
    """The products of one category, as a range of one value rather than an
    equality: PostgreSQL treats a column equal to a constant as constant and
    drops it from ORDER BY (a category's list is ordered by category first),
    and then walking the whole list's index and testing each row's category
    looks as good to it as the category's own index; with few listed products
    in the category that walk reads the whole list."""
    return queryset.filter(category_id__gte=category_id, category_id__lte=category_id)


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
    """A product as the list renders it (but its live quantity), built by hand
    for speed (the cached list renders thousands a second); equal to
    ``ProductSerializer``'s output (opply/catalog/tests/test_catalog_scale.py
    proves it)."""
    price: Decimal = values["price"]
    return {
        "id": str(values["public_id"]),
        "name": values["name"],
        "sku": values["sku"],
        "price": f"{price:.2f}",
        "category": {"id": str(values["category__public_id"]), "name": values["category__name"], "slug": values["category__slug"]},
    }


def _count(queryset: QuerySet[Product]) -> tuple[int, bool]:
    """(count, exact): exact up to EXACT_COUNT_LIMIT, else the planner's estimate.

    The estimate comes first (planning only, no rows read). A list clearly
    longer than the limit is not counted at all: counting even its first
    rows may read the table in whatever order the planner likes. Otherwise
    the count stops at the limit.
    """
    if queryset.query.is_empty():  # an unknown category: nothing to ask PostgreSQL
        return 0, True
    plan = json.loads(queryset.explain(format="json"))
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    if estimate > ESTIMATE_ONLY_ABOVE:
        return estimate, False
    counted = queryset[: EXACT_COUNT_LIMIT + 1].count()
    if counted <= EXACT_COUNT_LIMIT:
        return counted, True
    return max(estimate, counted), False


def _resolve_ordering(filtered: FilteredProducts, query: ProductQuery, count: int, exact: bool) -> Ordering:
    """The requested ordering. Without one: a search of few matches is ranked
    by relevance; a broad one lists the newest first (ranking would read and
    sort every match, and name order walks the name index past every product
    whose name sorts before the searched word: "smoked" is the first word of
    the names that match it); the list is by name. A cursor must belong to
    the ordering it is used with."""
    position = query.position
    if filtered.ordering is not None:
        ordering = filtered.ordering
    elif filtered.search and position is not None and position.ordering in (RELEVANCE, NEWEST):
        ordering = position.ordering  # the list it started as, whatever its count became since
    elif filtered.search:
        ordering = RELEVANCE if exact and count <= search.RANK_LIMIT else NEWEST
    else:
        ordering = Ordering("name", descending=False)
    if position is not None and position.ordering != ordering:
        raise ValidationError({"cursor": [f"This cursor belongs to ordering={position.ordering.name}, not {ordering.name}."]})
    return ordering


def _build_page(query: ProductQuery, cached: cache.CachedPage) -> dict[str, Any]:
    filtered = product_queryset(query)
    # The count read with the page (cache.read_page); a new one is stored with
    # the page (cache.write_page).
    count, exact = cached.count or _count(filtered.queryset)
    ordering = _resolve_ordering(filtered, query, count, exact)

    queryset = filtered.queryset
    fields = [*ROW_FIELDS]
    if ordering.key == "relevance":
        queryset = queryset.annotate(rank=RawSQL(search.RANK_SQL, [filtered.search], output_field=FloatField()))  # noqa: S611 - constant SQL
        fields.append("rank")
    elif SORT_FIELDS[ordering.key] not in fields:
        fields.append(SORT_FIELDS[ordering.key])
    position = query.position
    # A reversed page (previous) walks the index backwards from the position.
    backwards = position is not None and position.reverse
    descending = ordering.descending != backwards

    def ordered(queryset: QuerySet[Product], *, walk: bool = True, bounds: tuple[Any, Any] | None = None) -> QuerySet[Product]:
        """From the position on (keyset), in the ordering: one index walk
        (``walk=False``: the same order through an expression no index has,
        so that PostgreSQL fetches the matches of a search and sorts them),
        within ``bounds`` (the sort key's smallest and largest value)."""
        # A category's list is walked on the category's own index (see
        # ProductFilter.filter_category): ordered by category first, the same
        # order (one category), which no other index serves.
        by_category = walk and filtered.category_index_serves(ordering)
        if bounds is not None:
            # As row comparisons, like the position, where the B-tree starts
            # (and stops) its walk; the extreme UUIDs make each comparison
            # take its whole key value. From a position the walk starts
            # there: only where it stops is bounded (two starts would leave
            # PostgreSQL to pick one of them).
            low, high = (bounds[0], False, MIN_UUID), (bounds[1], True, MAX_UUID)
            start, stop = (high, low) if descending else (low, high)
            for value, upper, edge in [stop] if position is not None else [start, stop]:
                queryset = queryset.filter(
                    KeysetAfter(
                        F(SORT_FIELDS[ordering.key]),
                        descending=upper,
                        placeholder=_KEY_PLACEHOLDER[ordering.key],
                        value=_sql_value(value),
                        public_id=edge,
                        category_id=filtered.category_id if by_category else None,
                    )
                )
        if position is not None:
            key = F("rank") if ordering.key == "relevance" else F(SORT_FIELDS[ordering.key])
            queryset = queryset.filter(
                KeysetAfter(
                    key,
                    descending=descending,
                    placeholder=_KEY_PLACEHOLDER[ordering.key],
                    value=_sql_value(position.value),
                    public_id=position.public_id,
                    category_id=filtered.category_id if by_category else None,
                )
            )
        sign = "-" if descending else ""
        if by_category:
            return queryset.order_by(f"{sign}category_id", f"{sign}{SORT_FIELDS[ordering.key]}", f"{sign}public_id")
        if walk or ordering.key == "relevance":
            return queryset.order_by(f"{sign}{SORT_FIELDS[ordering.key]}", f"{sign}public_id")
        key = RawSQL(_UNINDEXED_SQL[ordering.key], [], output_field=FloatField())  # noqa: S611 - constant SQL
        return queryset.order_by(key.desc() if descending else key.asc(), f"{sign}public_id")

    offset = 0 if position is not None else (query.page - 1) * query.page_size
    wanted = slice(offset, offset + query.page_size + 1)
    values = None
    searching = filtered.unsearched is not None and ordering.key != "relevance"
    if exact and position is None and count <= offset:
        # The exact count says the page is empty (a search of words that
        # never meet: the most common miss of the long tail): no second
        # pass over the search index to find nothing again.
        values = []
    elif searching:
        # The walk starts where the search's matches start in this order (and
        # stops where they end): never past its first match (search.expand).
        bounds = filtered.bounds.get(SORT_FIELDS[ordering.key])
        unsearched = filtered.unsearched
        if bounds is not None and filtered.category_index_serves(ordering):
            # On a category's index the bounds start with the category and
            # hold it: together they select that category alone. Next to the
            # category's range (in_category) PostgreSQL 15 starts the walk
            # at the range instead, and the bounds only filter the category's
            # every row (7 ms warm, 260 ms cold, to find nothing).
            unsearched = filtered.uncategorized
        walk = ordered(unsearched, bounds=bounds)
        values = _first_matches(walk, search.match_sql(listed=filtered.listed), filtered.search, fields, wanted)
    if values is None:
        values = list(ordered(queryset, walk=not searching).values(*fields)[wanted])
    more = len(values) > query.page_size
    values = values[: query.page_size]
    if backwards:
        values.reverse()
    if not values and query.page != 1:
        if (count, exact) != cached.count:
            # No page is stored past the end; the list's count is.
            cache.write_count(cached, query.count_digest, count, exact)
        raise Http404("Invalid page.")

    def token(row: dict[str, Any], *, reverse: bool) -> str:
        key = row["rank"] if ordering.key == "relevance" else row[SORT_FIELDS[ordering.key]]
        return ProductCursorPagination().token(Position(ordering, key, row["public_id"], reverse))

    has_next = (more and not backwards) or (backwards and bool(values))
    if not exact and position is None and not more:
        # The last page of a page-numbered list: its rows end the list, so
        # the count is known exactly now (an estimate can be far off).
        count, exact = offset + len(values), True
    has_previous = (more and backwards) or (not backwards and (position is not None or query.page > 1))
    return {
        "count": count,
        "count_exact": exact,
        "pks": [row["id"] for row in values],
        "rows": [json.dumps(_row(row), ensure_ascii=False, separators=(",", ":"))[:-1] for row in values],
        "next": token(values[-1], reverse=False) if has_next and values else None,
        "previous": token(values[0], reverse=True) if has_previous and values else None,
    }


# How many rows of the list a search first looks through, in the list's order.
SEARCH_WINDOW = 2000
# The sort keys as expressions of equal order that no index serves.
_UNINDEXED_SQL = {
    "name": """("catalog"."product"."name" || '')""",
    "price": '("catalog"."product"."price" + 0)',
    "created_at": """("catalog"."product"."created_at" + interval '0')""",
}


def _first_matches(
    unsearched: QuerySet[Product], match_sql: str, tsquery: str, fields: list[str], wanted: slice
) -> list[dict[str, Any]] | None:
    """The wanted rows of a full-text search in an ordering, found cheaply, or None.

    PostgreSQL's two ways are both unbounded: walk the ordering's index and
    test each row (cheap while matches are common all along the order, a
    read of the whole list when they are not: the matches of "smoked" come
    after every name before "S", and a word whose products are all sold out
    has none at all), or fetch every match from the search index and sort
    them (cost grows with the matches: 60,000 for a common word). So: look
    for the rows among the first SEARCH_WINDOW rows of the list in the order
    (``unsearched``: the list without the search, from the position on); if
    they are all there, they are the answer, and so are the matches found
    when the list ends inside the window (a category with nothing in stock,
    a word its category does not have, the last page). Otherwise (None) the caller
    fetches every match from the search index and sorts them: the matches
    are then rare along this order, which usually means few (a correlated
    word, "smoked" by name, is the expensive case left).

    The window is a subquery with its own LIMIT, walked in order and tested
    row by row, stopping at the last wanted match: asked as ``id IN (window)``
    PostgreSQL preferred to fetch every match from the search index and join
    (its estimate of two words that always go together, "coffee bean", is a
    hundredth of the truth), or looked each window row up again by key.
    """
    order = [(name.lstrip("-"), name.startswith("-")) for name in unsearched.query.order_by]
    columns = ["id", *dict.fromkeys(name for name, _ in order)]
    size = SEARCH_WINDOW + wanted.start
    # Each window row's place in it: the outer query returns the window's
    # last row whether it matches or not, which tells a window cut short by
    # its LIMIT from a list that ended inside it (the walk still stops at
    # the last wanted match when there are enough).
    place = Window(RowNumber(), order_by=[F(name).desc() if descending else F(name).asc() for name, descending in order])
    window = unsearched.annotate(matches=RawSQL(match_sql, [tsquery], output_field=BooleanField()), place=place)  # noqa: S611 - constant SQL
    window = window.values(*columns, "matches", "place")[:size]
    sql, params = window.query.get_compiler(using=window.db).as_sql()
    order_sql = ", ".join(f'"{name}" {"DESC" if descending else "ASC"}' for name, descending in order)
    with connections[window.db].cursor() as cursor:
        cursor.execute(
            f"SELECT id, matches, place FROM ({sql}) AS first_rows WHERE matches OR place = %s ORDER BY {order_sql} LIMIT %s",  # noqa: S608 - compiled by the ORM; values bound
            [*params, size, wanted.stop + 1],
        )
        found = cursor.fetchall()
    matched = [pk for pk, matches, _ in found if matches]
    if len(matched) < wanted.stop and any(place == size for _, _, place in found):
        return None  # the window ended before the page did; the list goes on
    ids = matched[wanted.start : wanted.stop]
    rows = {row["id"]: row for row in Product.objects.filter(id__in=ids).values(*fields)}
    return [rows[pk] for pk in ids]


def _sql_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@dataclass(frozen=True)
class ListPage:
    count: int
    count_exact: bool
    next: str | None  # a cursor token
    previous: str | None
    results_json: str  # the rows, as JSON objects separated by commas, with live quantities
    cached: bool


def page_prefetch(query: ProductQuery) -> Prefetch:
    """The page's cache read, to be sent in authentication's round trip
    (opply/common/prefetch.py); :func:`product_page` takes its reply."""
    return Prefetch(page_prefetch_key(query), cache.read_page_command(query.cache_digest, query.cache_tag, query.count_digest))


def page_prefetch_key(query: ProductQuery) -> str:
    """The key :func:`page_prefetch`'s reply is left under (opply.common.prefetch.take)."""
    return f"catalog-page:{query.cache_digest}"


def product_page(query: ProductQuery, prefetched: Any = MISSING) -> ListPage:
    """One page of the list, each row with its live ``quantity_in_stock``.

    Cache-aside: on a hit the page and its quantities come from Redis in one
    round trip (``prefetched``: the reply of :func:`page_prefetch`'s read,
    which came with authentication's, so no round trip of its own). On a miss
    the page comes from the database (its list's count with the read, if
    cached), and the round trip that stores it reads its quantities from the
    availability store; with Redis down, the page and the quantities come
    from PostgreSQL.

    The cached rows are rendered JSON already (each without its closing
    brace): a hit appends each row's quantity and joins them, with no
    serializer, dict or renderer on the way (the hit path is the hot path).
    """
    digest = query.cache_digest
    cached = cache.read_page(digest, query.cache_tag, query.count_digest, prefetched)
    page, quantities = cached.page, cached.available
    hit = page is not None
    if page is None:
        page = _build_page(query, cached)
        # Stored with its count and its quantities read back: one round trip.
        quantities = cache.write_page(cached, digest, page, query.count_digest)
    if None in quantities:
        # Keys the availability store lost (an eviction, a restart) are
        # rebuilt on the way; with Redis down this reads PostgreSQL.
        pks = page["pks"]
        found = availability.available_quantities([pk for pk, quantity in zip(pks, quantities, strict=True) if quantity is None])
        quantities = [found.get(pk, 0) if quantity is None else quantity for pk, quantity in zip(pks, quantities, strict=True)]
    results = ",".join(
        f'{row},"quantity_in_stock":{quantity if quantity > 0 else 0}}}' for row, quantity in zip(page["rows"], quantities, strict=True)
    )
    return ListPage(page["count"], page["count_exact"], page["next"], page["previous"], results, hit)


def with_quantity(product: Product) -> Product:
    """The product with ``quantity_in_stock`` (what a customer can still buy)
    set from the availability store, for ``ProductDetailSerializer``."""
    quantity = availability.available_quantities([product.id]).get(product.id, 0)
    product.quantity_in_stock = max(quantity, 0)  # type: ignore[attr-defined]
    return product


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
