"""Maintenance of the search vocabulary (``catalog.search_word``).

The triggers of migrations 0006-0011 only ever widen it: a word stays after
its last product was renamed, and a word's bounds and categories keep the
old name, price or category of a product that changed. That is always
safe (a search may walk longer, never miss a product) but drifts with the
catalog's edits. :func:`refresh` narrows it back to the products of now.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, transaction

PRODUCT = '"catalog"."product"'
TABLE = '"catalog"."search_word"'

_FRESH = f"""
CREATE TEMPORARY TABLE fresh_search_word ON COMMIT DROP AS
SELECT word COLLATE "C" AS word, min(name) AS name_min, max(name) AS name_max, min(price) AS price_min, max(price) AS price_max,
       min(created_at) AS created_min, max(created_at) AS created_max,
       array_agg(DISTINCT category_id ORDER BY category_id) AS category_ids
  FROM {PRODUCT}, unnest(tsvector_to_array(search_vector)) AS word
 GROUP BY word
"""  # noqa: S608 - constant SQL

_FORGET = f"DELETE FROM {TABLE} AS known WHERE NOT EXISTS (SELECT FROM fresh_search_word AS fresh WHERE fresh.word = known.word)"  # noqa: S608

_NARROW = f"""
UPDATE {TABLE} AS known
   SET name_min = fresh.name_min, name_max = fresh.name_max, price_min = fresh.price_min, price_max = fresh.price_max,
       created_min = fresh.created_min, created_max = fresh.created_max, category_ids = fresh.category_ids
  FROM fresh_search_word AS fresh
 WHERE fresh.word = known.word
   AND (known.name_min, known.name_max, known.price_min, known.price_max, known.created_min, known.created_max, known.category_ids)
       IS DISTINCT FROM
       (fresh.name_min, fresh.name_max, fresh.price_min, fresh.price_max, fresh.created_min, fresh.created_max, fresh.category_ids)
"""  # noqa: S608 - constant SQL

# Never needed while the triggers run; here so that the vocabulary is whole
# even if someone emptied it by hand.
_COLUMNS = "word, name_min, name_max, price_min, price_max, created_min, created_max, category_ids"
_ADD_MISSING = f"INSERT INTO {TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM fresh_search_word ON CONFLICT DO NOTHING"  # noqa: S608


@dataclass(frozen=True)
class Refreshed:
    words: int  # words held by some product now
    forgotten: int  # words no product holds any more (deleted)
    narrowed: int  # words whose bounds or categories changed
    added: int  # words that were missing


def refresh() -> Refreshed:
    """Make every word's bounds and categories exactly those of the products
    of now, and forget the words no product holds.

    Narrowing is safe only if no product is written meanwhile (a write
    between reading the products and updating a word would be left outside
    its word's bounds, and missed by searches): the product table is locked
    against writes (SHARE mode; reads go on) for the whole refresh, as the
    migrations that filled the vocabulary did. At a million products that is
    some seconds without catalog writes, orders' stock flags included: run
    it when the catalog is quiet."""
    with transaction.atomic(using="default"), connections["default"].cursor() as cursor:
        cursor.execute(f"LOCK TABLE {PRODUCT} IN SHARE MODE")
        cursor.execute(_FRESH)
        cursor.execute("SELECT count(*) FROM fresh_search_word")
        (words,) = cursor.fetchone()
        cursor.execute(_FORGET)
        forgotten = cursor.rowcount
        cursor.execute(_NARROW)
        narrowed = cursor.rowcount
        cursor.execute(_ADD_MISSING)
        added = cursor.rowcount
        # Dropped here too: inside an outer transaction (a test's) ON COMMIT
        # comes only at its end.
        cursor.execute("DROP TABLE fresh_search_word")
        cursor.execute(f"ANALYZE {TABLE}")
    return Refreshed(words, forgotten, narrowed, added)
