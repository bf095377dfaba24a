"""Which categories each search word occurs in.

A search within a category for a word that none of the category's products
holds ("tea" in Pantry, "wild" in Snacks) found nothing, slowly: the search
walked 2,000 rows of the category's index in the list's order looking for a
match, then fetched the word's matches in the category from the search index
and the category index (a BitmapAnd of tens of thousands of entries: 8-80 ms
at a million products, the slowest requests of the catalog's long tail).
Words cluster by category (espresso is coffee, basmati is rice), so this is
a common search, not a corner case. Each word of the vocabulary (0006) now
keeps the ids of the categories of the products that hold it: when no word
that a search's prefix starts occurs in the category, nothing can match,
and the search answers an empty page from the vocabulary alone.

Kept by the same statement triggers as the bounds (0008, 0010) and, like
them, only ever widened: a product moved to another category adds that
category to its words; a product moved away or deactivated leaves its old
category in place (a search there then looks, and finds nothing, as before).
A word with no categories (NULL: none of its products existed when this
was filled) is taken to occur anywhere. Filled here from the products of
now, with the product table locked against writes (SHARE mode) so that no
product is written between the fill and the new trigger.
"""

from importlib import import_module

from django.db import migrations

TABLE = '"catalog"."search_word"'
PRODUCT = '"catalog"."product"'
FUNCTION = '"catalog"."remember_search_words"'

# The changed rows' bounds and categories per word.
CHANGED = """
    SELECT word, min(name) AS name_min, max(name) AS name_max, min(price) AS price_min, max(price) AS price_max,
           min(created_at) AS created_min, max(created_at) AS created_max,
           array_agg(DISTINCT category_id ORDER BY category_id) AS category_ids
      FROM changed, unnest(tsvector_to_array(changed.search_vector)) AS word
     GROUP BY word
"""

# As 0010: new words go in with DO NOTHING (no lock on a word already known),
# and a plain UPDATE widens, and so locks, only the words whose bounds or
# categories grow; a stock flag, or an edit within known bounds, widens none.
REMEMBER = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TABLE} (word, name_min, name_max, price_min, price_max, created_min, created_max, category_ids)
    SELECT * FROM ({CHANGED}) AS fresh ORDER BY word
    ON CONFLICT DO NOTHING;
    UPDATE {TABLE} AS known SET
        name_min = least(known.name_min, fresh.name_min),
        name_max = greatest(known.name_max, fresh.name_max),
        price_min = least(known.price_min, fresh.price_min),
        price_max = greatest(known.price_max, fresh.price_max),
        created_min = least(known.created_min, fresh.created_min),
        created_max = greatest(known.created_max, fresh.created_max),
        category_ids = ARRAY(SELECT DISTINCT unnest(coalesce(known.category_ids, '{{}}') || fresh.category_ids) ORDER BY 1)
      FROM ({CHANGED}) AS fresh
     WHERE known.word = fresh.word
       AND (known.name_min IS NULL
            OR fresh.name_min < known.name_min OR fresh.name_max > known.name_max
            OR fresh.price_min < known.price_min OR fresh.price_max > known.price_max
            OR fresh.created_min < known.created_min OR fresh.created_max > known.created_max
            OR known.category_ids IS NULL OR NOT fresh.category_ids <@ known.category_ids);
    RETURN NULL;
END
$$
"""  # noqa: S608 - constant SQL

# 0010's trigger function, for the way back (a migration is frozen: its text is its own).
PREVIOUS = import_module("opply.catalog.migrations.0010_search_words_without_locks").REMEMBER

FILL = f"""
UPDATE {TABLE} AS known
   SET category_ids = fresh.category_ids
  FROM (SELECT word, array_agg(DISTINCT category_id ORDER BY category_id) AS category_ids
          FROM {PRODUCT}, unnest(tsvector_to_array(search_vector)) AS word
         GROUP BY word) AS fresh
 WHERE fresh.word = known.word
"""  # noqa: S608 - constant SQL


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0010_search_words_without_locks"),
    ]

    operations = [
        migrations.RunSQL(
            [
                f"LOCK TABLE {PRODUCT} IN SHARE MODE",
                f"ALTER TABLE {TABLE} ADD COLUMN category_ids bigint[]",
                REMEMBER,
                FILL,
                f"ANALYZE {TABLE}",
            ],
            [PREVIOUS, f"ALTER TABLE {TABLE} DROP COLUMN category_ids"],
        ),
    ]
