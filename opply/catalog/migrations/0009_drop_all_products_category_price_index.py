"""No category index of every product: only the listed products' ones.

``product_cat_price`` ((category, price, public_id) over every product, for
staff) served a customer's category list ordered by price as well as the
listed products' own index did, in the planner's eyes (both estimated at a
row); when it chose it, a customer's search in a category with nothing in
stock read every sold-out product of the category (100,000 at a million
products: 280-400 ms) to find none. Staff lists in a category now walk the
whole list's price index and test each row's category (staff are few; no
sequential scan, opply/catalog/tests/test_query_plans.py). Dropped
``CONCURRENTLY`` (the migration is not atomic); the way back rebuilds it so.
"""

from django.db import migrations, models

TABLE = '"catalog"."product"'


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalog", "0008_search_word_bounds"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX CONCURRENTLY IF EXISTS "catalog"."product_cat_price"',
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS product_cat_price ON {TABLE} (category_id, price, public_id)",
                )
            ],
            state_operations=[migrations.RemoveIndex(model_name="product", name="product_cat_price")],
        )
    ]
