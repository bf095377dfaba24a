"""The search-word triggers lock no word that they do not widen.

0008's trigger inserted each statement's words with ``ON CONFLICT DO UPDATE
... WHERE <the bounds widen>``, and PostgreSQL locks every conflicting row of
such an insert, whether the WHERE lets it update or not. So every UPDATE of a
product (an order flipping ``in_stock`` included) locked the rows of all its
words until commit: two transactions writing products that share a word
("organic", "1kg") waited for each other, and two that wrote several products
in separate statements (``refresh_in_stock`` flips some true, then some
false) could deadlock. Now new words are inserted with ``DO NOTHING`` (which
waits only for a concurrent insert of the same new word, and locks nothing),
and a plain UPDATE widens only the words whose bounds grow: it locks only
those rows, and a stock flag or an unchanged name widens nothing.
"""

from importlib import import_module

from django.db import migrations

TABLE = '"catalog"."search_word"'
FUNCTION = '"catalog"."remember_search_words"'

# The changed rows' bounds per word.
CHANGED = """
    SELECT word, min(name) AS name_min, max(name) AS name_max, min(price) AS price_min, max(price) AS price_max,
           min(created_at) AS created_min, max(created_at) AS created_max
      FROM changed, unnest(tsvector_to_array(changed.search_vector)) AS word
     GROUP BY word
"""

REMEMBER = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TABLE} (word, name_min, name_max, price_min, price_max, created_min, created_max)
    SELECT * FROM ({CHANGED}) AS fresh ORDER BY word
    ON CONFLICT DO NOTHING;
    UPDATE {TABLE} AS known SET
        name_min = least(known.name_min, fresh.name_min),
        name_max = greatest(known.name_max, fresh.name_max),
        price_min = least(known.price_min, fresh.price_min),
        price_max = greatest(known.price_max, fresh.price_max),
        created_min = least(known.created_min, fresh.created_min),
        created_max = greatest(known.created_max, fresh.created_max)
      FROM ({CHANGED}) AS fresh
     WHERE known.word = fresh.word
       AND (known.name_min IS NULL
            OR fresh.name_min < known.name_min OR fresh.name_max > known.name_max
            OR fresh.price_min < known.price_min OR fresh.price_max > known.price_max
            OR fresh.created_min < known.created_min OR fresh.created_max > known.created_max);
    RETURN NULL;
END
$$
"""  # noqa: S608 - constant SQL

# 0008's trigger function, for the way back (a migration is frozen: its text is its own).
PREVIOUS = import_module("opply.catalog.migrations.0008_search_word_bounds").REMEMBER


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0009_drop_all_products_category_price_index"),
    ]

    operations = [migrations.RunSQL(REMEMBER, PREVIOUS)]
