"""The vocabulary of product names, for search (opply/catalog/search.py).

``catalog.search_word`` holds every lexeme that any product's search vector
ever held, in byte order (``COLLATE "C"``: a prefix is a range of the primary
key), so that a search can spell a typed prefix out as the exact words it
starts, which the GIN index answers several times faster than a prefix.

Kept by two statement-level triggers on the product table (after INSERT and
after UPDATE, with the changed rows as a transition table): one statement
of a bulk load (``seed_catalog``'s 100,000 rows) adds its words in one
INSERT, and an update whose words are all known (a stock flag, a price)
only probes the primary key. New words are inserted in order, so two
transactions adding the same new words wait for each other rather than
deadlock. Words are never removed: a word no product holds any more only
widens a query by one branch that matches nothing, and the vocabulary stays a
superset of the words in use, which is what makes the expansion exact.

The triggers are created before the table is filled, in one transaction:
a product written meanwhile waits for the trigger's lock, then adds its own
words. At a million products filling it takes about 15 s.
"""

from django.db import migrations

TABLE = '"catalog"."search_word"'
PRODUCT = '"catalog"."product"'
FUNCTION = '"catalog"."remember_search_words"'

# The trigger function (also what 0008 puts back on its way back).
REMEMBER = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TABLE} (word)
    SELECT DISTINCT word FROM changed, unnest(tsvector_to_array(changed.search_vector)) AS word
     ORDER BY word
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""  # noqa: S608 - constant SQL

CREATE = [
    f'CREATE TABLE {TABLE} (word text COLLATE "C" PRIMARY KEY)',
    REMEMBER,
    f"""CREATE TRIGGER product_search_words_insert AFTER INSERT ON {PRODUCT}
        REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()""",
    f"""CREATE TRIGGER product_search_words_update AFTER UPDATE ON {PRODUCT}
        REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()""",
    f"""INSERT INTO {TABLE} (word)
        SELECT DISTINCT word FROM {PRODUCT}, unnest(tsvector_to_array(search_vector)) AS word ORDER BY word
        ON CONFLICT DO NOTHING""",
    f"ANALYZE {TABLE}",
]

DROP = [
    f"DROP TRIGGER IF EXISTS product_search_words_update ON {PRODUCT}",
    f"DROP TRIGGER IF EXISTS product_search_words_insert ON {PRODUCT}",
    f"DROP FUNCTION IF EXISTS {FUNCTION}()",
    f"DROP TABLE IF EXISTS {TABLE}",
]


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_listed_search_index"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
