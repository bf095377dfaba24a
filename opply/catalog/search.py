"""Product search: PostgreSQL full-text search over names, and exact SKUs.

A search that is exactly a product's SKU (any case) finds that product and
only it, through a B-tree on ``UPPER(sku)``: instant, and exact. Anything else
becomes a ``tsquery`` in which every word must match the start of a word of
the name (``oat mi`` finds "Oat milk 1L"): prefix matching, the ``simple``
configuration (no stemming or stop words: product names are not prose, and
"1L" or "T55" must stay as typed). A GIN index on the stored ``tsvector``
column (migration 0004) finds the matches without reading the table, and
testing a row costs no parsing; the list's ordering indexes serve the order.

A prefix is not handed to the index as a prefix when it can be spelled
out: the words of every product name ever saved are kept in
``catalog.search_word`` (a B-tree of a few bytes per word, maintained by
statement triggers on the product table: migration 0006), and ``yoghur``
becomes ``'yoghurt' | 'yoghurts'``, the words that start with it. GIN reads
the posting lists of exact words as streams it can intersect, skipping
ahead in the longer one; for a prefix it must first collect every match of
every word under it into a bitmap (at a million products, two common
prefixes ANDed took 25-35 ms, their exact words 4-12 ms). A prefix that
starts more than ``EXPANSION_LIMIT`` words stays a prefix; one that starts
none matches nothing, and the search is answered without the index. The
vocabulary only grows (a renamed product's old words stay), so the expansion
is always a superset of the words in use: the same products match.

Each word also keeps the smallest and largest name, price and creation time
of the products that hold it (migration 0008, only ever widened): a search
in an ordering starts its walk of the ordering's index where its matches can
start, not at the top of the list, where "Organic ..." or the second word
"salsa" have no match for hundreds of thousands of rows. And it keeps the
categories its products are in (migration 0011): a search within a category
where none of the words a prefix starts occurs matches nothing, nor does a
search of words that occur in no category together ("espresso shampoo"); it
is answered without the search index, like a prefix that starts no word.

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
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

# A stored generated column with a GIN index (migration 0004):
# to_tsvector('simple', name), kept by PostgreSQL. Queries are tsquery
# literals built here (lexemes quoted, as the vector holds them), not text
# for to_tsquery: its parser would split a word such as "12-pack" again.
VECTOR_SQL = '"catalog"."product"."search_vector"'
RANK_SQL = f"ts_rank({VECTOR_SQL}, %s::tsquery)"
# The customers' lists (listed products only) match the vector itself, which
# only the listed products' index (migration 0005) serves; every other list
# (staff's, or a customer's with in_stock=false) matches its words without
# positions, which only the index of every product (0007) serves. Two
# expressions, so that the planner cannot answer a customer's search from
# the index of every product: it did, for a word whose products were all sold
# out (the estimate cannot know), and read 50,000 of them (160 ms, not 0.1).
MATCH_SQL = f"{VECTOR_SQL} @@ %s::tsquery"
ALL_MATCH_SQL = f"strip({VECTOR_SQL}) @@ %s::tsquery"
# The words of product names, as lexemes (migration 0006), in byte order
# (COLLATE "C"), so that a prefix is a range of its primary key.
WORDS_TABLE = '"catalog"."search_word"'
# A prefix that starts more words than this stays a prefix in the query.
EXPANSION_LIMIT = 16

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


def lexeme(word: str) -> str:
    """A word as a quoted tsquery operand, taken as it is (no parsing)."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery(term: str) -> str | None:
    """``oat mi`` -> ``'oat':* & 'mi':*``; None when nothing searchable is left."""
    found = words(term)[:MAX_WORDS]
    return " & ".join(f"{lexeme(word)}:*" for word in found) if found else None


@dataclass(frozen=True)
class Expansion:
    """A search's tsquery with its prefixes spelled out, and where its matches
    can lie: per sort field (``name``, ``price``, ``created_at``), the
    smallest and largest value among the products that hold its words (from
    each word's bounds, migration 0008; a field is absent when unknown)."""

    query: str
    bounds: dict[str, tuple[Any, Any]]


# Per word of the search: how PostgreSQL lower-cases it (as the 'simple'
# dictionary did when it built the vectors), the words it starts (one more
# than the limit, to tell "too many"), the categories they occur in (as
# text: "1,3,5,3"; whether one of them may occur anywhere, having none:
# migration 0011) and their bounds. A constant prefix lets the planner turn
# ^@ into a range of the primary key.
_EXPAND_COLUMNS = (
    "%s::int, lower(%s), array_agg(word ORDER BY word), bool_or(category_ids IS NULL), string_agg(array_to_string(category_ids, ','), ','),"
    " min(name_min), max(name_max), min(price_min), max(price_max), min(created_min), max(created_max)"
)
_EXPAND_SQL = f"(SELECT {_EXPAND_COLUMNS} FROM (SELECT * FROM {WORDS_TABLE} WHERE word ^@ lower(%s) ORDER BY word LIMIT %s) AS started)"  # noqa: S608
BOUNDED_FIELDS = ("name", "price", "created_at")


# The exact-SKU lookup, as one more row of the same query: (-1, the id of
# the product whose SKU the term is, or NULL, and no words). The condition is
# the expression of the product_sku_upper index.
_SKU_SQL = (
    '(SELECT -1, (SELECT id::text FROM "catalog"."product" WHERE UPPER("catalog"."product"."sku"::text) = %s ORDER BY id LIMIT 1),'
    " NULL::text[], NULL::boolean, NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::numeric, NULL::timestamptz, NULL::timestamptz)"
)


@dataclass(frozen=True)
class Lookup:
    """What a search term finds: the product whose SKU it is exactly, else
    the expansion of its full-text search (None: nothing can match)."""

    sku_match: int | None
    expansion: Expansion | None


def look_up(term: str, *, using: str, category_id: int | None = None) -> Lookup:
    """The exact-SKU lookup and :func:`expand` in one query (one round trip
    for every search a cache misses, not two)."""
    return _look_up(term, using=using, sku=True, category_id=category_id)


def expand(term: str, *, using: str, category_id: int | None = None) -> Expansion | None:
    """:func:`tsquery` with each prefix spelled out as the words it starts
    (``oat mi`` -> ``('oat' | 'oats') & ('mild' | 'milk')``), read from the
    vocabulary in one query; None when some word starts no word at all (or
    nothing searchable is left): then nothing matches.

    Bounds: a match holds a word of every group, so its value lies within
    each group's bounds (the widest of its words'): the narrowest of them
    all. A group left as a prefix (too many words) bounds nothing.

    Categories: None too when the words of one group occur in no category
    that the words of another group (or ``category_id``, the category
    searched) occur in: no product can hold a word of each."""
    return _look_up(term, using=using, sku=False, category_id=category_id).expansion


def _look_up(term: str, *, using: str, sku: bool, category_id: int | None) -> Lookup:
    found = words(term)[:MAX_WORDS]
    sku_text = term.strip().upper() if sku else ""
    parts, params = ([_SKU_SQL], [sku_text]) if sku_text else ([], [])
    for n, word in enumerate(found):
        parts.append(_EXPAND_SQL)
        params += [n, word, word, EXPANSION_LIMIT + 1]
    if not parts:
        return Lookup(None, None)
    with connections[using].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = sorted(cursor.fetchall(), key=lambda row: row[0])
    if sku_text:
        (_, sku_match, *_), *rows = rows
        if sku_match is not None:
            return Lookup(int(sku_match), None)
    return Lookup(None, _expansion(rows, category_id) if found else None)


def _expansion(rows: list[tuple[Any, ...]], category_id: int | None) -> Expansion | None:
    """The expansion from the vocabulary's rows, one per word of the search."""
    # The categories a match can be in: the searched one, and for each group
    # one its words occur in (a match holds a word of every group).
    possible: set[int] | None = None if category_id is None else {category_id}
    terms: list[str] = []
    lows: dict[str, list[Any]] = {field: [] for field in BOUNDED_FIELDS}
    highs: dict[str, list[Any]] = {field: [] for field in BOUNDED_FIELDS}
    for _, prefix, started, anywhere, categories, *bounds in rows:
        if not started:
            return None
        if len(started) > EXPANSION_LIMIT:
            # Only the first words it starts were read: it rules nothing out.
            terms.append(f"{lexeme(prefix)}:*")
            continue
        if not anywhere and categories:
            theirs = {int(category) for category in categories.split(",")}
            possible = theirs if possible is None else possible & theirs
            if not possible:
                return None  # its words occur in none of the categories the others (or the search) allow
        terms.append("(" + " | ".join(lexeme(word) for word in started) + ")")
        for field, (low, high) in zip(BOUNDED_FIELDS, zip(bounds[::2], bounds[1::2], strict=True), strict=True):
            if low is not None and high is not None:
                lows[field].append(low)
                highs[field].append(high)
    # Every group's bounds hold every match, so any of them would do; the
    # narrowest serve best. (Python compares names by code point, not by the
    # database's collation: that can only pick a wider bound, or an empty
    # range, after which the selector fetches every match as it would anyway.)
    bounded = {field: (max(lows[field]), min(highs[field])) for field in BOUNDED_FIELDS if lows[field]}
    return Expansion(" & ".join(terms), bounded)


def match_sql(*, listed: bool) -> str:
    """The match condition of a list of listed products only, or of any list."""
    return MATCH_SQL if listed else ALL_MATCH_SQL


def filter_search(queryset: QuerySet, term: str, *, listed: bool, category_id: int | None = None) -> tuple[QuerySet, Expansion | None]:
    """The product whose SKU is exactly ``term`` (any case), else the
    products whose names contain every word of it (as a word prefix); and
    the expansion of that full-text search (None for an exact SKU or when
    nothing can match). ``listed``: the list is of listed products only
    (:func:`match_sql`); ``category_id``: the list is of that category."""
    found = look_up(term, using=queryset.db, category_id=category_id)
    if found.sku_match is not None:
        return queryset.filter(id=found.sku_match), None
    if found.expansion is None:
        return queryset.none(), None
    return queryset.filter(condition(match_sql(listed=listed), [found.expansion.query])), found.expansion


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
