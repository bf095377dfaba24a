"""Every documented product-list query is served by an index, at a realistic size.

The table gets 100,000 generated products (in the test's transaction, so they
vanish afterwards) and fresh statistics, then every documented combination of
filters, orderings and depths (opply/catalog/query_plans.py) is built through
the selector and each statement explained. At this size PostgreSQL already
prefers a sequential scan wherever no index fits; at a million products such
a scan reads the whole table. ``manage.py catalog_query_plans`` runs the same
check against any database (the benchmark's million products).
"""

import pytest
from django.db import connection

from opply.catalog.query_plans import explain_lists
from opply.catalog.seed import seed_generated_catalog

pytestmark = pytest.mark.django_db


def test_no_documented_list_reads_the_product_table_sequentially():
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 0")  # the seeding, not a request
    seed_generated_catalog(100_000)
    with connection.cursor() as cursor:
        # Counted from this transaction's own rows: ANALYZE sees them.
        cursor.execute('ANALYZE "catalog"."product"; ANALYZE "catalog"."category"')

    explained, findings = explain_lists(["smoked", "oat", "honey 1kg"])

    assert explained > 1000
    assert [(f.is_staff, f.params, f.sql) for f in findings] == []
