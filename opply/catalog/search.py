"""Product search: PostgreSQL full-text search over names, and exact SKUs.

A search that is exactly a product's SKU (any case) finds that product and
only it, through a B-tree on ``UPPER(sku)``: instant, and exact. Anything else
becomes a ``tsquery`` in which every word must match the start of a word of
the name (``oat mi`` finds "Oat milk 1L"): prefix matching, the ``simple``
configuration (no stemming or stop words: product names are not prose, and
"1L" or "T55" must stay as typed). A GIN index on the stored ``tsvector``
column (migration 0004) finds the matches without reading the table, and
testing a row costs no parsing; the list's ordering indexes serve the order.

Relevance (``ts_rank``) needs every match read and ranked, so it orders a
search only when the matches are few (``RANK_LIMIT``, known from the capped
count that the page needs anyway); a broad search is ordered by name and
stays index-served. Past one database this selector's job moves to a search
engine (OpenSearch or Meilisearch) behind the same function, fed from the
catalog's writes.

This module also knows which cached pages a product can appear in (its
``tags``), so that a product selling out throws away only the cached pages of
searches it matches (opply/catalog/cache.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

# A stored generated column with a GIN index (migration 0004):
# to_tsvector('simple', name), kept by PostgreSQL.
VECTOR_SQL = '"catalog"."product"."search_vector"'
RANK_SQL = f"ts_rank({VECTOR_SQL}, to_tsquery('simple'::regconfig, %s))"
MATCH_SQL = f"{VECTOR_SQL} @@ to_tsquery('simple'::regconfig, %s)"

# Broad searches are ordered by name: ranking them would read every match.
RANK_LIMIT = 1000
MAX_WORDS = 8

# Words as PostgreSQL's parser splits them, near enough: letters and digits
# (an underscore or hyphen separates words there too).
_WORD = re.compile(r"[^\W_]+")
# A tag is the first letters of a word: enough to tell most searches apart.
TAG_LETTERS = 3


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def tsquery(term: str) -> str | None:
    """``oat mi`` -> ``oat:* & mi:*``; None when nothing searchable is left."""
    found = words(term)[:MAX_WORDS]
    return " & ".join(f"{word}:*" for word in found) if found else None


def filter_search(queryset: QuerySet, term: str) -> tuple[QuerySet, bool]:
    """The product whose SKU is exactly ``term`` (any case), else the
    products whose names contain every word of it (as a word prefix); and
    whether that is a full-text search."""
    from opply.catalog.models import Product

    sku = term.strip().upper()
    by_sku = Product.objects.filter(condition('UPPER("catalog"."product"."sku"::text) = %s', [sku])).values_list("id", flat=True).first()
    if by_sku is not None:
        return queryset.filter(id=by_sku), False
    query = tsquery(term)
    if query is None:
        return queryset.none(), False
    return queryset.filter(condition(MATCH_SQL, [query])), True


def condition(sql: str, params: list[Any]) -> RawSQL:
    """A WHERE condition in SQL the ORM cannot spell (a full-text match on the
    indexed expression, a row comparison), as it is: a boolean expression
    filters without ``= true``, so PostgreSQL still matches it to the index.
    ``sql`` is always a constant of this package; values go in ``params``."""
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611 - constant SQL, values bound as parameters


def search_tag(term: str) -> str | None:
    """The tag of a search: the first letters of its longest word. A product
    matching the search has a word starting with those letters, so it carries
    the tag (:func:`product_tags`)."""
    found = words(term)[:MAX_WORDS]
    if not found:
        sku_words = term.strip().lower()
        return f"sku:{sku_words}" if sku_words else None
    return "s:" + max(found, key=len)[:TAG_LETTERS]


def product_tags(name: str, sku: str, lexemes: Iterable[str]) -> set[str]:
    """Every search tag a product can match: the first one to three letters
    of each word of its name (as PostgreSQL's parser saw them, ``lexemes``,
    and as :func:`words` sees them) and of its SKU (a search for the exact SKU
    is tagged by its words too), and its exact SKU."""
    tags = {f"sku:{sku.lower()}"}
    for word in {*lexemes, *words(name), *words(sku)}:
        tags.update(f"s:{word[:n]}" for n in range(1, TAG_LETTERS + 1))
    return tags
