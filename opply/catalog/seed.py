"""Catalog data for local use: a small demo catalog and a bulk generator."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db import connection, transaction

from opply.catalog import services
from opply.catalog.cache import bump_catalog_version
from opply.catalog.models import Category, Product

DEMO_CATALOG: dict[tuple[str, str], list[tuple[str, str, str, int]]] = {
    ("Dairy alternatives", "dairy-alternatives"): [
        ("OAT-1L", "Oat milk 1L", "2.40", 120),
        ("ALM-1L", "Almond milk 1L", "2.90", 80),
        ("SOY-YOG-500", "Soy yoghurt 500g", "1.95", 0),
    ],
    ("Coffee", "coffee"): [
        ("COF-BEAN-1KG", "Espresso beans 1kg", "18.50", 40),
        ("COF-DECAF-500", "Decaf beans 500g", "9.75", 25),
    ],
    ("Baking", "baking"): [
        ("FLR-T55-25KG", "Wheat flour T55 25kg", "21.00", 60),
        ("SGR-CANE-5KG", "Cane sugar 5kg", "7.80", 90),
        ("YST-DRY-500", "Dry yeast 500g", "4.20", 3),
    ],
    ("Snacks", "snacks"): [
        ("NUT-MIX-1KG", "Mixed nuts 1kg", "14.90", 50),
        ("CHP-SEA-150", "Sea salt crisps 150g", "1.60", 300),
    ],
}


def seed_demo_catalog() -> int:
    """Create the demo categories and products that are missing; return how many products were created."""
    created = 0
    for (category_name, slug), products in DEMO_CATALOG.items():
        category, _ = Category.objects.get_or_create(slug=slug, defaults={"name": category_name})
        for sku, name, price, quantity in products:
            if not Product.objects.filter(sku=sku).exists():
                services.product_create(
                    sku=sku, name=name, price=Decimal(price), category=category, quantity_in_stock=quantity, actor="seed"
                )
                created += 1
    return created


ADJECTIVES = [
    "Organic",
    "Fresh",
    "Roasted",
    "Smoked",
    "Wholegrain",
    "Artisan",
    "Raw",
    "Dried",
    "Frozen",
    "Premium",
    "Classic",
    "Spiced",
    "Sweet",
    "Salted",
    "Wild",
    "Golden",
]
NOUNS = [
    "oat milk",
    "coffee beans",
    "flour",
    "rice",
    "olive oil",
    "honey",
    "almonds",
    "cocoa",
    "tea",
    "pasta",
    "lentils",
    "oats",
    "butter",
    "cheese",
    "yoghurt",
    "granola",
    "sugar",
    "chocolate",
    "vinegar",
    "salsa",
]
SIZES = ["250g", "500g", "1kg", "2kg", "5kg", "25kg", "330ml", "1L", "5L", "12-pack"]
CATEGORIES = ["Dairy alternatives", "Coffee", "Baking", "Snacks", "Pantry", "Beverages", "Frozen", "Confectionery", "Oils", "Spices"]


def seed_generated_catalog(products: int, batch_size: int = 100_000, first_row: int = 0) -> str:
    """Insert ``products`` generated products (with stock and ledger) in bulk, in SQL.

    Names, prices and stock vary deterministically per row; about one product
    in ten is out of stock. Returns the SKU prefix of this run. Rows are
    numbered from ``first_row`` (the tests start far in to reach the large
    row numbers of a big catalog cheaply).

    Each batch is one statement: ``generate_series`` over ``bigint`` (the row
    arithmetic, ``i * 7919``, passes 2**31 after about 271,000 rows in
    ``integer``), with the product ids drawn from the product table's sequence
    up front so that stock and ledger rows follow without joining back on the
    SKU. One transaction per batch keeps WAL and locks bounded.
    """
    prefix = f"GEN-{secrets.token_hex(3).upper()}-"
    categories = []
    for name in CATEGORIES:
        slug = name.lower().replace(" ", "-")
        categories.append(Category.objects.get_or_create(slug=slug, defaults={"name": name})[0].id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", ['"catalog"."product"'])
        (sequence,) = cursor.fetchone()
        for start in range(first_row, first_row + products, batch_size):
            stop = min(start + batch_size, first_row + products)
            with transaction.atomic():
                cursor.execute(
                    """
                    WITH rows AS MATERIALIZED (
                        SELECT nextval(%(sequence)s::regclass) AS id, i,
                               (%(adjectives)s::text[])[1 + (i * 7) %% cardinality(%(adjectives)s::text[])] || ' ' ||
                               (%(nouns)s::text[])[1 + (i * 13) %% cardinality(%(nouns)s::text[])] || ' ' ||
                               (%(sizes)s::text[])[1 + (i * 3) %% cardinality(%(sizes)s::text[])] || ' #' || i AS name,
                               round((0.5 + ((i * 7919) %% 10000) / 100.0)::numeric, 2) AS price,
                               (%(categories)s::bigint[])[1 + i %% cardinality(%(categories)s::bigint[])] AS category_id,
                               CASE WHEN i %% 10 = 0 THEN 0 ELSE 1 + (i * 31) %% 500 END AS on_hand
                          FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS i
                    ), products AS (
                        INSERT INTO "catalog"."product" (id, public_id, sku, name, price, category_id, is_active, in_stock, created_at, updated_at)
                        SELECT id, gen_random_uuid(), %(prefix)s || lpad(i::text, 8, '0'), name, price, category_id, true, on_hand > 0,
                               now() - make_interval(secs => i), now()
                          FROM rows
                    ), stock AS (
                        INSERT INTO "catalog"."stock" (product_id, on_hand, version, updated_at)
                        SELECT id, on_hand, 0, now() FROM rows
                    )
                    INSERT INTO "catalog"."stock_movement" (product_id, delta, reason, reference, created_at)
                    SELECT id, on_hand, 'initial', 'seed_catalog', now() FROM rows WHERE on_hand > 0
                    """,
                    {
                        "sequence": sequence,
                        "adjectives": ADJECTIVES,
                        "nouns": NOUNS,
                        "sizes": SIZES,
                        "categories": categories,
                        "start": start,
                        "stop": stop,
                        "prefix": prefix,
                    },
                )
    tables = ('"catalog"."product"', '"catalog"."stock"', '"catalog"."search_word"')
    with connection.cursor() as cursor:
        # VACUUM as well as ANALYZE: the catalog is served as autovacuum would
        # leave it, not as a bulk load does (every row's hint bits still to
        # set by its first readers, index-only scans reading the heap because
        # no page is marked all-visible). VACUUM cannot run in a transaction
        # (the tests seed inside theirs): there, statistics only.
        # One statement each: several in one string also make a transaction.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        for table in tables:
            cursor.execute(f"{command} {table}")
    bump_catalog_version()
    return prefix
