"""Keyset (cursor) pagination of the product list.

Depth must cost what the first page costs. ``OFFSET`` reads and throws away
every row before the page (a page 45,000 deep read 900,000 rows); a keyset
page starts from the sort key of the row before it, which an index finds in
a few pages of the B-tree at any depth.

A position is the sort key of one row plus its public id (the tie-breaker:
several products share a price), in the direction of the ordering, so every
page is ``WHERE (key, public_id) > (k, id) ORDER BY key, public_id LIMIT n``
and served by one of the ``(key, public_id)`` indexes (opply/catalog/models.py).
The cursor is DRF's ``CursorPagination`` token (base64 of ``p``osition and
``r``everse) carrying a JSON position that also names its ordering, so that
a cursor replayed under another ordering is refused instead of silently
skipping rows. Integer primary keys never appear in it.

``page`` stays for the shallow pages a UI jumps to, up to ``MAX_PAGE``; a
deeper page is a 400 that says to follow ``next``.
"""

from __future__ import annotations

import datetime as dt
import json
from base64 import b64encode
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

# Shallow pages only: page * page_size rows are read and skipped, so the bound
# keeps the worst OFFSET at 9,900 rows (a few milliseconds through an index).
MAX_PAGE = 100
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

# Sort keys of the list: the API's name -> the model field. "relevance" is the
# rank of a search (opply/catalog/search.py), never asked for by name.
SORT_FIELDS = {"name": "name", "price": "price", "created_at": "created_at", "relevance": "rank"}


@dataclass(frozen=True)
class Ordering:
    key: str  # a SORT_FIELDS key
    descending: bool

    @classmethod
    def parse(cls, value: str) -> Ordering:
        return cls(value.lstrip("-"), value.startswith("-"))

    @property
    def name(self) -> str:
        return f"-{self.key}" if self.descending else self.key


@dataclass(frozen=True)
class Position:
    """Where a cursor page starts: after (or, reversed, before) this row."""

    ordering: Ordering
    value: Any  # str | Decimal | datetime | float, by ordering key
    public_id: UUID
    reverse: bool = False


class CursorError(ValidationError):
    def __init__(self, detail: str) -> None:
        super().__init__({"cursor": [detail]})


class ProductCursorPagination(CursorPagination):
    """DRF's cursor token format; the position inside it is ours (a composite key)."""

    cursor_query_param = "cursor"
    page_size = DEFAULT_PAGE_SIZE
    invalid_cursor_message = "Invalid cursor: use the next or previous link of a page, unchanged."

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = base_url

    def token(self, position: Position) -> str:
        """The opaque ``cursor`` value for a position: the token DRF's
        ``encode_cursor`` puts in its link (its query string, base64; read
        back by ``decode_cursor``), without building a link and parsing the
        token back out of it (two per page a cache miss builds)."""
        tokens = {"r": "1"} if position.reverse else {}
        tokens["p"] = _dump(position)
        return b64encode(urlencode(tokens).encode("ascii")).decode("ascii")

    def position(self, request: Request) -> Position | None:
        """The request's cursor, or None; anything but a token we issued is a 400."""
        values = request.query_params.getlist(self.cursor_query_param)
        if not values:
            return None
        if len(values) > 1:
            raise CursorError("Give this parameter once.")
        try:
            cursor = self.decode_cursor(request)
        except NotFound:
            raise CursorError(self.invalid_cursor_message) from None
        if cursor is None or cursor.offset or cursor.position is None:
            raise CursorError(self.invalid_cursor_message)
        return _load(cursor.position, reverse=cursor.reverse)


def _dump(position: Position) -> str:
    value = position.value
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).isoformat()
    elif isinstance(value, Decimal):
        value = str(value)
    elif isinstance(value, float):
        value = repr(value)
    return json.dumps([position.ordering.name, value, str(position.public_id)], separators=(",", ":"))


def _load(raw: str, *, reverse: bool) -> Position:
    invalid = CursorError(ProductCursorPagination.invalid_cursor_message)
    try:
        ordering_name, value, public_id = json.loads(raw)
        ordering = Ordering.parse(ordering_name)
        if ordering.key not in SORT_FIELDS or not isinstance(value, str) or not isinstance(public_id, str):
            raise invalid
        return Position(ordering, _parse_value(ordering.key, value), UUID(public_id), reverse)
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        raise invalid from None


def _parse_value(key: str, value: str) -> Any:
    if key == "name":
        if len(value) > 200 or "\x00" in value:
            raise ValueError(value)
        return value
    if key == "price":
        price = Decimal(value)
        if not price.is_finite() or abs(price) >= Decimal("1e10"):
            raise ValueError(value)
        return price
    if key == "created_at":
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(value)
        return parsed
    rank = float(value)
    if rank != rank or rank in (float("inf"), float("-inf")):
        raise ValueError(value)
    return rank


def cursor_after(row: dict[str, Any], ordering: str) -> str:
    """The cursor of the page that starts right after ``row`` (a product's
    ``public_id`` and sort keys) under ``ordering``; for the benchmarks."""
    order = Ordering.parse(ordering)
    position = Position(order, row[SORT_FIELDS[order.key]], row["public_id"])
    return ProductCursorPagination().token(position)


def cursor_at_offset(offset: int, ordering: str = "name") -> str:
    """The cursor of the customers' default list that starts ``offset`` rows
    in (reads ``offset`` rows once, to find the row before); for the benchmarks."""
    from opply.catalog.models import Product

    order = Ordering.parse(ordering)
    field = SORT_FIELDS[order.key]
    sign = "-" if order.descending else ""
    row = (
        Product.objects.filter(is_active=True, in_stock=True)
        .order_by(f"{sign}{field}", f"{sign}public_id")
        .values("public_id", field)[max(offset - 1, 0)]
    )
    return cursor_after(row, ordering)
