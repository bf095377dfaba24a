import random
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from opply.catalog import services
from opply.catalog.models import Product, Stock, StockMovement
from opply.catalog.seed import seed_generated_catalog
from opply.catalog.selectors import stock_ledger_mismatches
from opply.catalog.tests.factories import make_product
from opply.common.errors import ApplicationError

pytestmark = pytest.mark.django_db


def test_the_ledger_sums_to_on_hand_after_a_random_sequence_of_adjustments():
    rng = random.Random(20261125)
    products = [make_product(quantity=rng.randint(0, 20)) for _ in range(5)]
    expected = {p.id: p.stock.on_hand for p in products}
    refused = 0

    for _ in range(300):
        product = rng.choice(products)
        if rng.random() < 0.2:
            quantity = rng.randint(0, 30)
            services.stock_adjust(product=product, quantity=quantity)
            expected[product.id] = quantity
        else:
            delta = rng.choice([-1, 1]) * rng.randint(1, 15)
            try:
                services.stock_adjust(product=product, delta=delta)
            except ApplicationError:
                assert expected[product.id] + delta < 0
                refused += 1
            else:
                expected[product.id] += delta

    assert refused > 0, "the sequence should have tried to go below zero at least once"
    assert dict(Stock.objects.values_list("product_id", "on_hand")) == expected
    assert stock_ledger_mismatches() == []
    call_command("stock_audit")


def test_stock_audit_reports_a_mismatch():
    product = make_product(quantity=5)
    Stock.objects.filter(product=product).update(on_hand=7)  # a write that bypassed the ledger

    assert stock_ledger_mismatches() == [(product.sku, 7, 5)]
    with pytest.raises(CommandError):
        call_command("stock_audit")


def test_the_database_refuses_negative_stock_whatever_the_code_does():
    from django.db import IntegrityError, transaction

    product = make_product(quantity=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Stock.objects.filter(product=product).update(on_hand=-1)


def test_generated_catalog_is_consistent():
    prefix = seed_generated_catalog(250, batch_size=100)

    generated = Product.objects.filter(sku__startswith=prefix)
    assert generated.count() == 250
    assert generated.filter(in_stock=False).count() == Stock.objects.filter(product__in=generated, on_hand=0).count() > 0
    assert StockMovement.objects.filter(product__in=generated, reason="initial").count() == generated.filter(in_stock=True).count()
    assert stock_ledger_mismatches() == []


def test_generated_catalog_reaches_a_million_rows_without_overflow():
    # Row numbers past 271,183 overflowed the generator's 32-bit arithmetic
    # (i * 7919): seeding 1,000,000 products failed with "integer out of range".
    prefix = seed_generated_catalog(20, batch_size=8, first_row=999_980)

    generated = Product.objects.filter(sku__startswith=prefix)
    assert sorted(generated.values_list("sku", flat=True)) == [f"{prefix}{n:08d}" for n in range(999_980, 1_000_000)]
    assert all(Decimal("0.50") <= price <= Decimal("100.49") for price in generated.values_list("price", flat=True))
    assert stock_ledger_mismatches() == []


def test_demo_seed_is_idempotent():
    call_command("seed")
    count = Product.objects.count()
    call_command("seed")

    assert count >= 10
    assert Product.objects.count() == count


@pytest.mark.django_db(transaction=True)
def test_a_generated_catalog_is_vacuumed_as_a_running_one_would_be():
    # A bulk load leaves no page all-visible: until autovacuum came by, every
    # index-only scan of a freshly seeded catalog read the heap as well.
    seed_generated_catalog(200, batch_size=100)

    with connection.cursor() as cursor:
        cursor.execute('SELECT relallvisible FROM pg_class WHERE oid = \'"catalog"."product"\'::regclass')
        (all_visible_pages,) = cursor.fetchone()
    assert all_visible_pages > 0
