"""The full-text indexes: one expression each, new entries merged at once.

Two changes to the search indexes of 0004 and 0005 (opply/catalog/search.py):

* The index of every product (staff's lists, a customer's ``in_stock=false``)
  now indexes ``strip(search_vector)``: the same words without positions,
  under an expression of its own. Both indexes indexed the same column, and
  for a customer's search the planner sometimes chose the index of every
  product and filtered out the sold-out rows: for a word whose products
  were all sold out it read 50,000 rows (160 ms) where the listed products'
  index answered in 0.1 ms. A customer's search now matches the column
  itself, which only the listed products' index serves.
* ``fastupdate = off`` on both: with GIN's default, new and changed rows
  queue in a pending list that every search reads in full, row by row,
  until VACUUM (or 4 MB of them) merges it. The catalog is read far more
  than written: after seeding a million products 21,000 entries were pending
  and a two-word search took 47 ms instead of 28. A stock flag or a staff
  edit now pays its few index insertions itself. What is pending is merged
  here.

Built ``CONCURRENTLY`` (the migration is not atomic): the catalog keeps
taking reads and writes meanwhile; ``ALTER INDEX ... SET`` of this option
takes only a SHARE UPDATE EXCLUSIVE lock.
"""

from django.db import migrations

TABLE = '"catalog"."product"'
LISTED_INDEX = '"catalog"."product_list_search"'

OPERATIONS = [
    (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS product_all_search ON {TABLE} USING gin (strip(search_vector)) WITH (fastupdate = off)",
        'DROP INDEX CONCURRENTLY IF EXISTS "catalog"."product_all_search"',
    ),
    (
        'DROP INDEX CONCURRENTLY IF EXISTS "catalog"."product_search"',
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS product_search ON {TABLE} USING gin (search_vector)",
    ),
    (f"ALTER INDEX {LISTED_INDEX} SET (fastupdate = off)", f"ALTER INDEX {LISTED_INDEX} RESET (fastupdate)"),
    (f"SELECT gin_clean_pending_list('{LISTED_INDEX}'::regclass)", migrations.RunSQL.noop),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalog", "0006_search_words"),
    ]

    operations = [migrations.RunSQL(sql, reverse) for sql, reverse in OPERATIONS]
