"""What an order, a login and a cart cost in storage (README "Storage over time").

Run it against a scratch database (it creates and deletes its own rows):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opply_storage \\
        .venv/bin/python scripts/storage_cost.py [--orders 2000]

It places N two-line orders (half with an Idempotency-Key), makes N logins
and N refreshes, fills N carts, and prints the bytes per unit each table (heap
+ indexes + TOAST, measured by PostgreSQL after VACUUM) and each Redis key grew
by. Figures are averages at this scale; PostgreSQL pages are 8 kB.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

TABLES = [
    '"orders"."order"',
    '"orders"."order_line"',
    '"orders"."idempotency_record"',
    '"catalog"."stock_movement"',
    '"catalog"."stock"',
    "token_blacklist_outstandingtoken",
    "token_blacklist_blacklistedtoken",
]


def sizes() -> dict[str, int]:
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
        return {
            table: connection.cursor().execute("SELECT pg_total_relation_size(%s::regclass)", [table]).fetchone()[0]  # type: ignore[union-attr]
            for table in TABLES
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    n = parser.parse_args().orders

    from opply.catalog import services as catalog_services
    from opply.catalog.models import Category
    from opply.common.redis import get_redis
    from opply.identity.models import User
    from opply.identity.tokens import IssuedRefreshToken, RotatingRefreshSerializer
    from opply.orders import cart, services
    from opply.orders.idempotency import Claim

    call_command("migrate", verbosity=0)
    connection.ensure_connection()
    category = Category.objects.create(name=f"Storage {uuid.uuid4().hex[:6]}", slug=f"storage-{uuid.uuid4().hex[:8]}")
    products = [
        catalog_services.product_create(
            sku=f"STO-{uuid.uuid4().hex[:10]}",
            name="A product name of ordinary length",
            price=Decimal("12.50"),
            category=category,
            quantity_in_stock=1_000_000,
        )
        for _ in range(2)
    ]
    user = User.objects.create_user(username=f"storage{uuid.uuid4().hex[:8]}", email=f"{uuid.uuid4().hex[:8]}@example.com", password=None)

    before = sizes()
    for i in range(n):
        lines = [services.LineRequest(p.public_id, 1 + i % 3) for p in products]
        claim = Claim(user.public_id, f"key-{uuid.uuid4()}", "f" * 64) if i % 2 == 0 else None
        services.order_place(customer_id=user.public_id, lines=lines, idempotency=claim)
    after_orders = sizes()
    for _ in range(n):
        refresh = IssuedRefreshToken.for_user(user)
        RotatingRefreshSerializer(data={"refresh": str(refresh)}).is_valid(raise_exception=True)
    after_logins = sizes()

    redis = get_redis()
    memory_before = redis.info("memory")["used_memory"]
    customers = [uuid.uuid4() for _ in range(n)]
    for customer in customers:
        for product in products:
            cart.cart_add(customer_id=customer, product_id=product.public_id, quantity=1)
    memory_after = redis.info("memory")["used_memory"]

    def grew(a: dict[str, int], b: dict[str, int]) -> dict[str, float]:
        return {table: (b[table] - a[table]) / n for table in TABLES if b[table] != a[table]}

    print(f"per order (2 lines, every other with an Idempotency-Key), n={n}:")
    for table, size in grew(before, after_orders).items():
        print(f"  {table:40s} {size:8.0f} B")
    print(f"per login + one refresh (two outstanding tokens, one blacklisted), n={n}:")
    for table, size in grew(after_orders, after_logins).items():
        print(f"  {table:40s} {size:8.0f} B")
    print(f"per cart of two lines in Redis: {(memory_after - memory_before) / n:.0f} B (until it expires or is checked out)")

    for customer in customers:
        cart.cart_clear(customer_id=customer)


if __name__ == "__main__":
    main()
