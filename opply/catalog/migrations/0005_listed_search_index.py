"""The customers' search: a full-text index of listed products only.

Customers search listed products (``is_active AND in_stock``). With an index
of those alone, a word whose products are all sold out finds nothing at once
instead of fetching every sold-out match to throw it away, and the posting
lists a search reads are those of listed products only. Staff searches keep
``product_search`` (0004). Built concurrently: the migration is not atomic.
"""

from django.db import migrations

CREATE = (
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS product_list_search ON "catalog"."product" '
    "USING gin (search_vector) WHERE is_active AND in_stock"
)
DROP = 'DROP INDEX CONCURRENTLY IF EXISTS "catalog"."product_list_search"'


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalog", "0004_catalog_at_scale"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
