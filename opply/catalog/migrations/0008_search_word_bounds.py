"""Where each word's products lie in every ordering of the list (search bounds).

A search ordered by name, price or age first looks for its page among the
first rows of the list in that order (opply/catalog/selectors.py,
``_first_matches``). For a common word whose products sort late (every
"Organic ..." product comes after every name from A to N; "salsa", a second
word, after every other noun of its adjective) the first rows hold no match,
and the search fell back to fetching every match and sorting them: 40,000 to
60,000 rows, 160-240 ms at a million products. So each word of the
vocabulary (0006) also keeps the smallest and largest name, price and
creation time of the products that hold it: a search starts its walk where
its words' products start (and stops where they end), which is never past
its first match.

The bounds are kept by the same statement triggers and only ever widen (a
new product, or a new name or price, extends them; a product deleted,
renamed or repriced leaves them as they were): a bound that is too wide
costs a longer walk, never a missed product. They are filled here from the
products of now, with the product table locked against writes (SHARE mode:
reads go on) so that no product is written between the fill and the new
trigger: at a million products that is about half a minute without catalog
writes (stock flags of orders included), at a hundred thousand a few
seconds.
"""

from importlib import import_module

from django.db import migrations

TABLE = '"catalog"."search_word"'
PRODUCT = '"catalog"."product"'
FUNCTION = '"catalog"."remember_search_words"'

COLUMNS = [
    f"ALTER TABLE {TABLE} ADD COLUMN name_min text, ADD COLUMN name_max text, "
    "ADD COLUMN price_min numeric(12, 2), ADD COLUMN price_max numeric(12, 2), "
    "ADD COLUMN created_min timestamptz, ADD COLUMN created_max timestamptz"
]

# Each statement's changed rows, per word: insert the words not known yet,
# widen the bounds of the others only where they grow (an update that
# changes nothing writes nothing). Words in order: two transactions adding
# or widening the same words wait for each other rather than deadlock.
REMEMBER = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TABLE} AS known (word, name_min, name_max, price_min, price_max, created_min, created_max)
    SELECT word, min(name), max(name), min(price), max(price), min(created_at), max(created_at)
      FROM changed, unnest(tsvector_to_array(changed.search_vector)) AS word
     GROUP BY word
     ORDER BY word
    ON CONFLICT (word) DO UPDATE SET
        name_min = least(known.name_min, excluded.name_min),
        name_max = greatest(known.name_max, excluded.name_max),
        price_min = least(known.price_min, excluded.price_min),
        price_max = greatest(known.price_max, excluded.price_max),
        created_min = least(known.created_min, excluded.created_min),
        created_max = greatest(known.created_max, excluded.created_max)
    WHERE known.name_min IS NULL
       OR excluded.name_min < known.name_min OR excluded.name_max > known.name_max
       OR excluded.price_min < known.price_min OR excluded.price_max > known.price_max
       OR excluded.created_min < known.created_min OR excluded.created_max > known.created_max;
    RETURN NULL;
END
$$
"""  # noqa: S608 - constant SQL

# 0006's trigger function, for the way back (a migration is frozen: its text is its own).
PREVIOUS = import_module("opply.catalog.migrations.0006_search_words").REMEMBER

# The bounds of the products of now.
FILL = f"""
UPDATE {TABLE} AS known
   SET name_min = fresh.name_min, name_max = fresh.name_max, price_min = fresh.price_min, price_max = fresh.price_max,
       created_min = fresh.created_min, created_max = fresh.created_max
  FROM (SELECT word, min(name) AS name_min, max(name) AS name_max, min(price) AS price_min, max(price) AS price_max,
               min(created_at) AS created_min, max(created_at) AS created_max
          FROM {PRODUCT}, unnest(tsvector_to_array(search_vector)) AS word
         GROUP BY word) AS fresh
 WHERE fresh.word = known.word
"""  # noqa: S608 - constant SQL

DROP_COLUMNS = (
    f"ALTER TABLE {TABLE} DROP COLUMN name_min, DROP COLUMN name_max, DROP COLUMN price_min, DROP COLUMN price_max, "
    "DROP COLUMN created_min, DROP COLUMN created_max"
)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0007_search_indexes"),
    ]

    operations = [
        migrations.RunSQL([f"LOCK TABLE {PRODUCT} IN SHARE MODE", *COLUMNS, REMEMBER, FILL, f"ANALYZE {TABLE}"], [PREVIOUS, DROP_COLUMNS]),
    ]
