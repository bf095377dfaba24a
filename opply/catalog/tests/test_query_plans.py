"""Every documented product-list query is served by an index, at a realistic size.

The table gets 100,000 generated products and fresh statistics, then every
documented combination of filters, orderings and depths
(opply/catalog/query_plans.py) is built through the selector and each
statement explained. At this size PostgreSQL already prefers a sequential
scan wherever no index fits; at a million products such a scan reads the
whole table. ``manage.py catalog_query_plans`` runs the same check against
any database (the benchmark's million products).

The rows are committed and the tables emptied afterwards (a transactional
test): rolled-back rows would leave the table's file full of dead space, and
the next tests' counts would be estimated from its size.
"""

import pytest
from django.db import connection

from opply.catalog.query_plans import explain_lists
from opply.catalog.seed import seed_generated_catalog

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_documented_list_reads_the_product_table_sequentially():
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")  # the seeding, not a request
    try:
        seed_generated_catalog(100_000)
        with connection.cursor() as cursor:
            cursor.execute('ANALYZE "catalog"."product"; ANALYZE "catalog"."category"')

        explained, findings = explain_lists(["smoked", "oat", "honey 1kg"])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")

    assert explained > 1000
    assert [(f.is_staff, f.params, f.sql) for f in findings] == []
