"""Prepare the orders benchmark's data in the bench database (bench/run.py orders and bench/fulfilment/run.sh run it).

Idempotent: run it before every benchmark run. It

* creates, by SKU, the hot product ``BENCH-HOT`` and the spread products
  ``BENCH-SPREAD-0001`` ... through the catalog's own service (so each has its
  stock row and its ``initial`` ledger row), in the category ``bench``;
* records a stock count on each of them (``stock_adjust(quantity=...)``, a
  ``count`` ledger row) so that every run starts from known stock;
* creates the customers ``bench-orders-01`` ... and mints an access token for
  each with the server's signing key (``DJANGO_SECRET_KEY`` is shared through
  the environment), so no login request runs during the benchmark;
* writes, in ``--work-dir``: ``tokens.txt``, ``hot.txt`` and ``spread.txt``
  (one value a line, for the wrk script) and ``prepare.json`` (the customers,
  each product's starting on-hand and the run's start time, for the verification).

Usage: ``python bench/orders/prepare.py --work-dir DIR [--spread 1000] [--customers 64]
[--hot-stock 5000000] [--spread-stock 100000]``, with the benchmark's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

HOT_SKU = "BENCH-HOT"
SPREAD_SKU = "BENCH-SPREAD-{:04d}"
CATEGORY_SLUG = "bench"
CUSTOMER = "bench-orders-{:02d}"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    import django

    django.setup()


def ensure_products(skus: list[str], stock: dict[str, int]) -> dict[str, Any]:
    """Create the missing products, then count every one of them to its target stock.

    Returns the products by SKU.
    """
    from opply.catalog.models import Category, Product, Stock
    from opply.catalog.services import product_create, stock_adjust

    category, _ = Category.objects.get_or_create(slug=CATEGORY_SLUG, defaults={"name": "Benchmark"})
    existing = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    created = 0
    for sku in skus:
        if sku in existing:
            continue
        existing[sku] = product_create(
            sku=sku, name=f"Benchmark product {sku}", price=Decimal("2.50"), category=category, quantity_in_stock=stock[sku], actor="bench"
        )
        created += 1
    inactive = [sku for sku, product in existing.items() if not product.is_active]
    if inactive:
        raise SystemExit(f"prepare: benchmark products are deactivated (orders would be refused): {inactive[:5]}")

    # A stock count only where the stock differs: after a run every product
    # that sold something is counted back up (one ledger row each).
    on_hand = dict(Stock.objects.filter(product__sku__in=skus).values_list("product__sku", "on_hand"))
    counted = 0
    for sku in skus:
        if on_hand[sku] != stock[sku]:
            stock_adjust(product=existing[sku], quantity=stock[sku], actor="bench")
            counted += 1
    print(f"prepare: {len(skus)} products ({created} created, {counted} counted back to their starting stock)", file=sys.stderr)
    return existing


def ensure_customers(count: int) -> list[Any]:
    from opply.identity.models import User

    users = []
    for i in range(1, count + 1):
        username = CUSTOMER.format(i)
        user = User.objects.filter(username=username).first()
        if user is None:
            # No usable password: the benchmark mints tokens, nobody logs in.
            user = User.objects.create_user(username=username, email=f"{username}@example.com", password=None)
        if user.is_staff or user.is_superuser or not user.is_active:
            user.is_staff = user.is_superuser = False
            user.is_active = True
            user.save(update_fields=["is_staff", "is_superuser", "is_active"])
        users.append(user)
    return users


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--spread", type=int, default=1000, help="number of spread products")
    parser.add_argument("--customers", type=int, default=64)
    parser.add_argument("--hot-stock", type=int, default=5_000_000)
    parser.add_argument("--spread-stock", type=int, default=100_000)
    args = parser.parse_args(argv)

    setup_django()
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from opply.catalog.models import Stock

    spread_skus = [SPREAD_SKU.format(i) for i in range(1, args.spread + 1)]
    stock = {HOT_SKU: args.hot_stock, **dict.fromkeys(spread_skus, args.spread_stock)}
    products = ensure_products([HOT_SKU, *spread_skus], stock)
    users = ensure_customers(args.customers)
    tokens = [str(RefreshToken.for_user(user).access_token) for user in users]

    # Read back what is on hand now: the verification compares against this.
    on_hand = dict(Stock.objects.using("default").filter(product__sku__in=list(stock)).values_list("product__sku", "on_hand"))
    document = {
        # Orders of the bench customers created from now on belong to this run
        # (the server stamps created_at with the same clock).
        "run_start": timezone.now().isoformat(),
        "customers": [str(user.public_id) for user in users],
        "hot": str(products[HOT_SKU].public_id),
        "spread": [str(products[sku].public_id) for sku in spread_skus],
        "products": {str(products[sku].public_id): {"sku": sku, "id": products[sku].id, "start_on_hand": on_hand[sku]} for sku in stock},
    }
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    (work / "tokens.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (work / "hot.txt").write_text(document["hot"] + "\n", encoding="utf-8")
    (work / "spread.txt").write_text("\n".join(document["spread"]) + "\n", encoding="utf-8")
    (work / "prepare.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"prepare: {len(users)} customers with access tokens; run starts at {document['run_start']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
