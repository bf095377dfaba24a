"""Check, after the orders benchmark's load, that nothing was oversold or lost.

Run by run.sh once gunicorn has stopped (so every request that reached it has
finished), with the benchmark's environment. Checks:

1. ``manage.py stock_audit`` exits 0: every on_hand equals its ledger's sum;
2. no product's on_hand is below zero;
3. per benchmark product: starting on_hand - on_hand now == units in the
   order lines of the orders the benchmark's customers placed since the run
   started (no oversell, no stock lost or created);
4. per scenario: orders created == 201 responses seen, give or take the
   requests wrk cut off at the end of each run (``WRK_SENT`` "unanswered":
   the server completed them, wrk did not wait): 201s <= orders <= 201s +
   unanswered; and every order is confirmed. (wrk also builds one request
   per run to check the script and never sends it: "unanswered" counts it,
   so the bound is loose by one per wrk run);
5. every order has its stored idempotency outcome (status 201), and no
   record of this run holds another outcome;
6. ``manage.py inventory_reconcile`` exits 0: Redis availability agrees with
   PostgreSQL and the holds;
7. no reservation is left in Redis: no ``hold:*`` key (polled for a few
   seconds) and no ``order:`` holder in the expiry set.

Writes the checks to ``--out`` (summarise.py prints them); exits 1 if any failed.

Usage: ``verify.py --work-dir DIR --key-prefix PREFIX --out FILE``; DIR holds
prepare.json and the wrk outputs ``<scenario>.<anything>.out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("hot", "spread")
HOLD_WAIT_SECONDS = 3.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def marker_lines(path: Path, marker: str) -> list[dict[str, Any]]:
    prefix = marker + " "
    return [
        json.loads(line[len(prefix) :])
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.startswith(prefix)
    ]


def responses_seen(work: Path, scenario: str) -> dict[str, Any]:
    """201s and unanswered requests over every wrk run (warm-ups included) and the probe."""
    statuses: dict[str, int] = {}
    unanswered = 0
    files = sorted(work.glob(f"{scenario}.*.out"))
    for path in files:
        results = marker_lines(path, "WRK_RESULT")
        if not results:
            raise SystemExit(f"verify: no WRK_RESULT line in {path} (did wrk fail?)")
        for result in results:
            for code, count in result["statuses"].items():
                statuses[code] = statuses.get(code, 0) + count
        unanswered += sum(sent["unanswered"] for sent in marker_lines(path, "WRK_SENT"))
    return {"files": [p.name for p in files], "statuses": statuses, "201": statuses.get("201", 0), "unanswered": unanswered}


def manage(command: str) -> Check:
    result = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and manage.py
        [sys.executable, "manage.py", command], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    output = (result.stdout + result.stderr).strip().splitlines()
    # On failure show the first offending lines and the summary.
    shown = output if result.returncode == 0 else output[:10] + (["..."] if len(output) > 11 else []) + output[-1:]
    return Check(f"manage.py {command}", result.returncode == 0, f"exit {result.returncode}: " + " | ".join(shown))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--key-prefix", required=True, help="prefix of every Idempotency-Key sent during this run")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    import django

    django.setup()
    from django.db.models import Count, Sum

    from opply.catalog.inventory import EXPIRY_KEY
    from opply.catalog.models import Stock
    from opply.common.redis import get_redis
    from opply.orders.models import IdempotencyRecord, Order, OrderLine

    prepared = json.loads((args.work_dir / "prepare.json").read_text(encoding="utf-8"))
    run_start = datetime.fromisoformat(prepared["run_start"])
    customers = prepared["customers"]
    products: dict[str, dict[str, Any]] = prepared["products"]
    scenario_products = {"hot": {prepared["hot"]}, "spread": set(prepared["spread"])}
    checks: list[Check] = []

    # 1. The ledger.
    checks.append(manage("stock_audit"))

    # 2. Nothing below zero (the CHECK constraint forbids it: this proves it held).
    negative = Stock.objects.using("default").filter(on_hand__lt=0).count()
    checks.append(Check("no negative on_hand", negative == 0, f"{negative} product(s) below zero"))

    # 3. Stock that left == units sold, per product.
    run_orders = Order.objects.using("default").filter(customer_id__in=customers, created_at__gte=run_start)
    sold = {
        str(row["product_id"]): row
        for row in OrderLine.objects.using("default")
        .filter(order__in=run_orders)
        .values("product_id")
        .annotate(units=Sum("quantity"), orders=Count("order", distinct=True))
    }
    now_on_hand = dict(
        Stock.objects.using("default").filter(product_id__in=[p["id"] for p in products.values()]).values_list("product_id", "on_hand")
    )
    mismatches = []
    per_product: dict[str, dict[str, int]] = {}
    for public_id, product in products.items():
        units = sold[public_id]["units"] if public_id in sold else 0
        left = product["start_on_hand"] - now_on_hand[product["id"]]
        per_product[public_id] = {"left": left, "sold": units}
        if left != units:
            mismatches.append(f"{product['sku']}: {left} left the stock, {units} sold")
    stray = sorted(set(sold) - set(products))
    total_sold = sum(p["sold"] for p in per_product.values())
    checks.append(
        Check(
            "stock that left == units sold, per product",
            not mismatches and not stray,
            (f"{len(products)} products, {total_sold} units sold, every one accounted for")
            if not mismatches and not stray
            else f"{len(mismatches)} mismatch(es): {'; '.join(mismatches[:5])}"
            + (f"; orders on other products: {stray[:5]}" if stray else ""),
            {"units_sold": total_sold, "hot_units_sold": per_product[prepared["hot"]]["sold"]},
        )
    )

    # 4. Orders in the database vs 201s seen, per scenario.
    statuses = dict(run_orders.values("status").annotate(n=Count("id")).values_list("status", "n"))
    not_confirmed = {status: n for status, n in statuses.items() if status != Order.Status.CONFIRMED}
    checks.append(Check("every order confirmed", not not_confirmed, f"orders by status: {statuses or 'none'}"))
    for scenario in SCENARIOS:
        seen = responses_seen(args.work_dir, scenario)
        orders = sum(row["orders"] for public_id, row in sold.items() if public_id in scenario_products[scenario])
        ok = seen["201"] <= orders <= seen["201"] + seen["unanswered"]
        checks.append(
            Check(
                f"{scenario}: orders == 201s seen (+ requests cut off at the end of a run)",
                ok,
                f"{orders} orders; {seen['201']} 201s seen; {seen['unanswered']} requests unanswered when wrk stopped"
                + (
                    f", of which {orders - seen['201']} placed an order"
                    if ok
                    else f": expected {seen['201']} to {seen['201'] + seen['unanswered']} orders"
                ),
                {"orders": orders, **seen},
            )
        )

    # 5. Idempotency records of this run.
    records = IdempotencyRecord.objects.using("default").filter(customer_id__in=customers, key__startswith=args.key_prefix)
    done_201 = records.filter(response_status=201).count()
    other = records.exclude(response_status=201).count()
    total_orders = run_orders.count()
    checks.append(
        Check(
            "one stored idempotency outcome (201) per order, no other outcome",
            done_201 == total_orders and other == 0,
            f"{total_orders} orders, {done_201} outcomes stored with 201, {other} other",
        )
    )

    # 6. Redis vs PostgreSQL.
    checks.append(manage("inventory_reconcile"))

    # 7. No reservation left behind (committed or released holds are deleted).
    redis = get_redis()
    deadline = time.monotonic() + HOLD_WAIT_SECONDS
    while True:
        holds = [key for _, key in zip(range(10), redis.scan_iter(match="hold:*", count=1000), strict=False)]
        order_holders = [h for h in redis.zrange(EXPIRY_KEY, 0, -1) if h.startswith("order:")]
        if (not holds and not order_holders) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    checks.append(
        Check(
            "no reservation left in Redis",
            not holds and not order_holders,
            "no hold:* key, no order holder in holds:expiry"
            if not holds and not order_holders
            else f"hold keys {holds[:5]}; order holders {order_holders[:5]}",
        )
    )

    # The summariser prints the checks with the figures.
    passed = all(check.ok for check in checks)
    args.out.write_text(json.dumps({"passed": passed, "checks": [asdict(c) for c in checks]}, indent=2) + "\n", encoding="utf-8")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
