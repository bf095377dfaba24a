"""Indexes for the catalog at a million products (issue 14).

Keyset pagination breaks ties by ``public_id`` (integer keys never leave the
server, and a cursor carries its tie-breaker), so every ordering index becomes
(sort key, public_id); categories get their own per ordering; search gets a
full-text GIN index on the names and an exact-SKU B-tree (SKUs are looked up
exactly: as words they would add a million unique lexemes to the index, and
"GEN" would match every generated product).

The search vector is a stored generated column rather than an expression
index: a search that walks an ordering index (or rechecks a bitmap) tests
the stored vector of each row instead of parsing its name and SKU again,
which cost a second for a broad search at a million products. PostgreSQL
maintains it; Django never writes it (it is not a model field).

Built ``CONCURRENTLY`` (so the migration is not atomic): on a live catalog
the table keeps taking writes while the indexes build. Written as SQL with
schema-qualified names: Django's index operations drop an index by its bare
name, which misses it outside the search path (silently: ``IF EXISTS``).
"""

from django.db import migrations, models
from django.db.models.functions import Upper

LISTED = models.Q(("in_stock", True), ("is_active", True))
TABLE = '"catalog"."product"'

# name -> (definition, the model's Index or None for the search expression).
NEW_INDEXES = {
    "product_list_name": ("(name, public_id) WHERE is_active AND in_stock", models.Index(condition=LISTED, fields=["name", "public_id"], name="product_list_name")),
    "product_list_price": ("(price, public_id) WHERE is_active AND in_stock", models.Index(condition=LISTED, fields=["price", "public_id"], name="product_list_price")),
    "product_list_created": (
        "(created_at, public_id) WHERE is_active AND in_stock",
        models.Index(condition=LISTED, fields=["created_at", "public_id"], name="product_list_created"),
    ),
    "product_list_cat_name": (
        "(category_id, name, public_id) WHERE is_active AND in_stock",
        models.Index(condition=LISTED, fields=["category", "name", "public_id"], name="product_list_cat_name"),
    ),
    "product_list_cat_price": (
        "(category_id, price, public_id) WHERE is_active AND in_stock",
        models.Index(condition=LISTED, fields=["category", "price", "public_id"], name="product_list_cat_price"),
    ),
    "product_list_cat_created": (
        "(category_id, created_at, public_id) WHERE is_active AND in_stock",
        models.Index(condition=LISTED, fields=["category", "created_at", "public_id"], name="product_list_cat_created"),
    ),
    "product_all_name": ("(name, public_id)", models.Index(fields=["name", "public_id"], name="product_all_name")),
    "product_all_price": ("(price, public_id)", models.Index(fields=["price", "public_id"], name="product_all_price")),
    "product_all_created": ("(created_at, public_id)", models.Index(fields=["created_at", "public_id"], name="product_all_created")),
    "product_cat_price": ("(category_id, price, public_id)", models.Index(fields=["category", "price", "public_id"], name="product_cat_price")),
    "product_sku_upper": ("(UPPER(sku::text))", models.Index(Upper("sku"), name="product_sku_upper")),
    # Full-text search (opply/catalog/search.py). Not in the model's Meta: the
    # column is not a model field.
    "product_search": ("USING gin (search_vector)", None),
}

# The indexes this replaces (0001), to restore on the way back.
OLD_INDEXES = {
    "product_listed_name": "(name, id) WHERE is_active AND in_stock",
    "product_listed_price": "(price, id) WHERE is_active AND in_stock",
    "product_listed_created": "(created_at, id) WHERE is_active AND in_stock",
    "product_category_price": "(category_id, price, id)",
    "product_name": "(name, id)",
    "product_price": "(price, id)",
    "product_created": "(created_at, id)",
}


# Rewrites the table once (a million products: about half a minute).
ADD_SEARCH_VECTOR = (
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, name::text)) STORED"
)


def create(name: str, definition: str) -> str:
    return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {TABLE} {definition}"


def drop(name: str) -> str:
    return f'DROP INDEX CONCURRENTLY IF EXISTS "catalog"."{name}"'


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalog", "0003_bounds"),
    ]

    operations = [
        migrations.RunSQL(ADD_SEARCH_VECTOR, f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS search_vector"),
        *[
            migrations.SeparateDatabaseAndState(
                database_operations=[migrations.RunSQL(create(name, definition), drop(name))],
                state_operations=[migrations.AddIndex(model_name="product", index=index)] if index is not None else [],
            )
            for name, (definition, index) in NEW_INDEXES.items()
        ],
        *[
            migrations.SeparateDatabaseAndState(
                database_operations=[migrations.RunSQL(drop(name), create(name, definition))],
                state_operations=[migrations.RemoveIndex(model_name="product", name=name)],
            )
            for name, definition in OLD_INDEXES.items()
        ],
        # Statistics of the new column now (autovacuum would take its time):
        # without them every search is estimated at 0.5 % of the table.
        migrations.RunSQL(f"ANALYZE {TABLE}", migrations.RunSQL.noop),
    ]
