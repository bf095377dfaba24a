"""The checks every fault scenario ends with, in one place.

After the fault is over and the system's own periodic jobs have run (the
sweeper releases what expired, the resync applies PostgreSQL's stock to
Redis), these must hold:

1. no oversell: for every product, on hand = stocked - sold, and >= 0
   (stocked: the ledger's initial stock, restocks, counts; sold: the units of
   the orders that stand);
2. ledger = stock: every ``on_hand`` equals the sum of its ledger
   (``manage.py stock_audit``);
3. store = database: no drift between Redis, PostgreSQL and the list flags
   (``manage.py inventory_reconcile``);
4. idempotency records = orders: each stored 201 names an order of that
   customer and each order placed with a key has its record, one per key;
5. no hold left after the sweep: once every hold's time has come, the
   sweeper leaves no hold and nothing reserved.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.db import connections
from django.db.models import Sum

from opply.catalog import inventory
from opply.catalog.models import Stock, StockMovement
from opply.catalog.reconcile import find_drift
from opply.catalog.selectors import stock_ledger_mismatches
from opply.catalog.tasks import release_expired, resync_availability
from opply.common.redis import get_redis
from opply.orders.models import IdempotencyRecord, Order, OrderLine

STANDING = [Order.Status.CONFIRMED, Order.Status.PENDING]


def _make_every_hold_due() -> int:
    """Bring every hold's expiry to now: what waiting out the time to live
    would do (the sweeper itself, and what it releases, are the real ones)."""
    redis = get_redis()
    holders = redis.zrange(inventory.EXPIRY_KEY, 0, -1)
    if holders:
        redis.zadd(inventory.EXPIRY_KEY, dict.fromkeys(holders, time.time() - 1))
    return len(holders)


def assert_invariants(*, every_order_keyed: bool = True) -> dict[str, Any]:
    """Check the five invariants; return what was checked, for the report."""
    connections.close_all()  # whatever the fault did to this process's connections
    drift_before = len(find_drift())
    holds_due = _make_every_hold_due()
    released = release_expired()
    flags_repaired = resync_availability()

    # 5. no hold left after the sweep
    holds = sorted(get_redis().scan_iter(match="hold:*"))
    assert holds == [], holds
    assert get_redis().zcard(inventory.EXPIRY_KEY) == 0

    # 3. store = database (reserved counters included: all must be zero now)
    drift = find_drift()
    assert drift == [], drift

    # 2. ledger = stock
    assert stock_ledger_mismatches() == []

    # 1. no oversell
    sold = Counter(
        dict(
            OrderLine.objects.using("default")
            .filter(order__status__in=STANDING)
            .values_list("product_id")
            .annotate(units=Sum("quantity"))
            .values_list("product_id", "units")
        )
    )
    stocked = dict(
        StockMovement.objects.using("default")
        .exclude(reason__in=[StockMovement.Reason.ORDER, StockMovement.Reason.CANCEL])
        .values_list("product__public_id")
        .annotate(units=Sum("delta"))
        .values_list("product__public_id", "units")
    )
    products = 0
    for public_id, on_hand in Stock.objects.using("default").values_list("product__public_id", "on_hand"):
        products += 1
        assert on_hand >= 0, (public_id, on_hand)
        assert on_hand == stocked.get(public_id, 0) - sold[public_id], (public_id, on_hand, stocked.get(public_id), sold[public_id])

    # 4. idempotency records = orders
    orders = {
        (str(customer), str(public_id)) for customer, public_id in Order.objects.using("default").values_list("customer_id", "public_id")
    }
    records = list(IdempotencyRecord.objects.using("default").filter(response_status=201).values_list("customer_id", "response_body"))
    recorded = [(str(customer), body["id"]) for customer, body in records]
    assert len(recorded) == len(set(recorded)), "two keys stored the same order"
    assert set(recorded) <= orders, set(recorded) - orders
    if every_order_keyed:
        assert set(recorded) == orders, orders - set(recorded)

    return {
        "products": products,
        "orders": len(orders),
        "units_sold": sum(sold.values()),
        "idempotency_records_201": len(recorded),
        "holds_swept": released,
        "holds_made_due": holds_due,
        "drift_before_periodic_jobs": drift_before,
        "flags_repaired_by_resync": flags_repaired,
        "drift_after": 0,
        "ledger_mismatches": 0,
        "oversold_products": 0,
    }
