"""Helpers of the fulfilment benchmark (run by bench/fulfilment/run.sh, with its environment).

    python bench/fulfilment/tool.py backlog --work-dir DIR --orders 20000
    python bench/fulfilment/tool.py wait-drained [--timeout 300]
    python bench/fulfilment/tool.py drain-watch --expect N --since ISO --out FILE [--timeout 600]
    python bench/fulfilment/tool.py lag --since ISO --out FILE
    python bench/fulfilment/tool.py verify --work-dir DIR --out FILE
    python bench/fulfilment/tool.py delete-broker-topology
    python bench/fulfilment/tool.py cpu-snapshot --out FILE
    python bench/fulfilment/tool.py cpu-shares --before FILE --after FILE --out FILE

Never part of the test suite; talks to the benchmark's own database, Redis and queues only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    import django

    django.setup()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


# --- backlog: pending orders with the API stopped --------------------------------------


def backlog(args: argparse.Namespace) -> int:
    """Accepted, unfulfilled orders on the hot product, written in bulk with
    exactly what acceptance writes: a hold per order in the store, the
    pending order and its line, its order.placed event in the outbox, and the
    message on the fulfilment queue (the load runs measure acceptance through
    the API; this only sets the table for the drain, quickly)."""
    from uuid import UUID, uuid4

    from django.conf import settings
    from django.db import transaction

    from opply.catalog import reservations
    from opply.catalog import selectors as catalog_selectors
    from opply.orders import events
    from opply.orders.models import Order, OrderLine

    document = json.loads((args.work_dir / "prepare.json").read_text())
    hot = UUID(document["hot"])
    product = catalog_selectors.products_for_order([hot])[hot]
    customers = [UUID(c) for c in document["customers"]]
    started = time.monotonic()
    orders, lines = [], []
    for i in range(args.orders):
        order_id = uuid4()
        holder = reservations.order_holder(order_id)
        if not reservations.reserve(holder, {hot: 1}, ttl_seconds=settings.PENDING_ORDER_HOLD_SECONDS).ok:
            raise SystemExit(f"backlog: the hot product ran out after {i} orders")
        orders.append(
            Order(public_id=order_id, customer_id=customers[i % len(customers)], status="pending", total=product.price, holder=holder)
        )
    reserved = time.monotonic()
    Order.objects.bulk_create(orders, batch_size=2000)
    lines = [
        OrderLine(order=order, product_id=hot, product_name=product.name, unit_price=product.price, quantity=1, line_total=product.price)
        for order in orders
    ]
    OrderLine.objects.bulk_create(lines, batch_size=2000)
    for start in range(0, len(orders), 1000):
        with transaction.atomic():  # published after each commit, 1,000 events per AMQP transaction
            events.record(
                [
                    events.payload(order, [line])
                    for order, line in zip(orders[start : start + 1000], lines[start : start + 1000], strict=True)
                ]
            )
    seconds = time.monotonic() - started
    print(
        f"backlog: {len(orders)} pending orders, holds and order.placed messages in {seconds:.1f} s "
        f"({reserved - started:.1f} s of it reserving one by one); API and worker stopped",
        file=sys.stderr,
    )
    return 0


# --- waiting for fulfilment ----------------------------------------------------------------


def _pending() -> int:
    from opply.orders.models import Order

    return Order.objects.filter(status="pending").count()


def wait_drained(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        left = _pending()
        if left == 0:
            return 0
        time.sleep(0.2)
    print(f"wait-drained: {_pending()} orders still pending after {args.timeout} s", file=sys.stderr)
    return 1


def drain_watch(args: argparse.Namespace) -> int:
    """Watch N pending orders drain; the rate from the database's own timestamps."""
    from django.db.models import Max, Min

    from opply.orders.models import Order

    started = time.monotonic()
    first_seen = None
    while time.monotonic() - started < args.timeout:
        left = _pending()
        if first_seen is None and left < args.expect:
            first_seen = time.monotonic()
        if left == 0:
            break
        time.sleep(0.05)
    else:
        print(f"drain-watch: {_pending()} still pending after {args.timeout} s", file=sys.stderr)
        return 1
    done = time.monotonic()
    decided = Order.objects.filter(created_at__gte=datetime.fromisoformat(args.since), confirmed_at__isnull=False)
    span = decided.aggregate(first=Min("confirmed_at"), last=Max("confirmed_at"))
    db_seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else None
    # The first batch's own work ends at the first confirmation: count the
    # orders confirmed after it over the time from it to the last one.
    first_batch = decided.filter(confirmed_at=span["first"]).count() if span["first"] else 0
    watched = done - (first_seen or started)
    result = {
        "orders": args.expect,
        "confirmed": decided.filter(status="confirmed").count(),
        "rejected": Order.objects.filter(created_at__gte=datetime.fromisoformat(args.since), status="rejected").count(),
        "seconds_first_to_last_confirmation": db_seconds,
        "first_batch": first_batch,
        "orders_per_second_db": round((args.expect - first_batch) / db_seconds, 1) if db_seconds else None,
        "seconds_watched": round(watched, 3),
        "orders_per_second_watched": round(args.expect / watched, 1) if watched else None,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"drain: {json.dumps(result)}", file=sys.stderr)
    return 0


# --- lag ---------------------------------------------------------------------------------


def lag(args: argparse.Namespace) -> int:
    from opply.orders.models import Order

    since = datetime.fromisoformat(args.since)
    rows = Order.objects.filter(created_at__gte=since, status="confirmed").values_list("created_at", "confirmed_at")
    lags = [(confirmed - created).total_seconds() for created, confirmed in rows]
    result = {
        "orders": len(lags),
        "p50_s": percentile(lags, 50),
        "p99_s": percentile(lags, 99),
        "max_s": max(lags) if lags else None,
        "mean_s": statistics.fmean(lags) if lags else None,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"fulfilment lag: {json.dumps(result)}", file=sys.stderr)
    return 0


# --- verification ------------------------------------------------------------------------


def verify(args: argparse.Namespace) -> int:
    from django.db.models import Sum

    from opply.catalog.models import Stock, StockMovement
    from opply.common.redis import get_redis
    from opply.orders.models import Order, OrderLine

    document = json.loads((args.work_dir / "prepare.json").read_text())
    since = datetime.fromisoformat(document["run_start"])
    checks: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        checks.append((name, ok, detail))
        print(f"[{'ok' if ok else 'FAIL'}] {name} {detail}", file=sys.stderr)

    for command, what in (("stock_audit", "every on_hand equals its ledger"),):
        code, output = _manage(command)
        check(f"manage.py {command}: {what}", code == 0, f"exit {code}: {output}")
    negative = Stock.objects.filter(on_hand__lt=0).count()
    check("no on_hand below zero", negative == 0, f"{negative} negative")

    orders = Order.objects.filter(created_at__gte=since)
    pending = orders.filter(status="pending").count()
    check("every order confirmed or rejected", pending == 0, f"{pending} pending of {orders.count()}")

    oversold = []
    for public_id, product in document["products"].items():
        sold = (
            OrderLine.objects.filter(order__created_at__gte=since, order__status="confirmed", product_id=public_id).aggregate(
                s=Sum("quantity")
            )["s"]
            or 0
        )
        now = Stock.objects.get(product_id=product["id"]).on_hand
        ledger = -(
            StockMovement.objects.filter(product_id=product["id"], reason="order", created_at__gte=since).aggregate(s=Sum("delta"))["s"]
            or 0
        )
        if product["start_on_hand"] - now != sold or ledger != sold:
            oversold.append((product["sku"], product["start_on_hand"], now, sold, ledger))
    check("no oversell: stock taken = ledger = confirmed order lines, per product", not oversold, str(oversold[:3]))
    lines = OrderLine.objects.filter(order__created_at__gte=since, order__status="confirmed").count()
    ledger_rows = StockMovement.objects.filter(reason="order", created_at__gte=since).count()
    check("one ledger row per confirmed order line", lines == ledger_rows, f"{ledger_rows} rows, {lines} lines")

    code, output = _manage("inventory_reconcile")
    check("store = database (manage.py inventory_reconcile)", code == 0, f"exit {code}: {output}")
    holds = sum(1 for _ in get_redis().scan_iter(match="hold:*", count=1000))
    check("no hold left in the store", holds == 0, f"{holds} hold(s)")

    ok = all(passed for _, passed, _ in checks)
    args.out.write_text(json.dumps({"ok": ok, "checks": [{"check": n, "ok": p, "detail": d} for n, p, d in checks]}, indent=1) + "\n")
    return 0 if ok else 1


def _manage(command: str) -> tuple[int, str]:
    result = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and manage.py
        [sys.executable, "manage.py", command], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    lines = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode, " | ".join(lines[:5] + (["..."] if len(lines) > 6 else []) + lines[-1:] if len(lines) > 5 else lines)


# --- CPU per process (Linux /proc; no Django: taken right before and after a wrk run) -------


def _process_name(pid: str, comm: str, parents: dict[str, str], names: dict[str, str]) -> str:
    """The command, with a Celery worker's main process told from its pool (their
    children) and every PostgreSQL backend, RabbitMQ thread... under one name."""
    if comm == "celery":
        return "celery pool" if names.get(parents.get(pid, "")) == "celery" else "celery main"
    if comm.startswith("postgres") or comm.startswith("postmaster"):
        return "postgres"
    return comm


def cpu_snapshot(args: argparse.Namespace) -> int:
    ticks: dict[str, int] = {}
    names: dict[str, str] = {}
    parents: dict[str, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        names[entry.name] = text[text.index("(") + 1 : text.rindex(")")]
        parents[entry.name] = fields[1]
        ticks[entry.name] = int(fields[11]) + int(fields[12])  # utime + stime
    by_name: dict[str, int] = {}
    for pid, used in ticks.items():
        name = _process_name(pid, names[pid], parents, names)
        by_name[f"{pid} {name}"] = used
    # The first line of /proc/stat: every core's ticks; the 4th and 5th are idle and waiting for I/O.
    machine = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    by_name["0 idle"] = machine[3] + machine[4]
    args.out.write_text(json.dumps({"machine": sum(machine), "processes": by_name}))
    return 0


def cpu_shares(args: argparse.Namespace) -> int:
    """% of the machine's CPU (both cores = 100 %) each command took between two snapshots."""
    before, after = json.loads(args.before.read_text()), json.loads(args.after.read_text())
    total = max(after["machine"] - before["machine"], 1)
    shares: dict[str, float] = {}
    for key, used in after["processes"].items():
        name = key.split(" ", 1)[1]
        shares[name] = shares.get(name, 0) + 100 * (used - before["processes"].get(key, 0)) / total
    top = {name: round(share, 1) for name, share in sorted(shares.items(), key=lambda kv: -kv[1]) if share >= 0.5}
    args.out.write_text(json.dumps(top) + "\n")
    return 0


def delete_broker_topology(args: argparse.Namespace) -> int:
    from contextlib import suppress

    from django.conf import settings
    from kombu import Connection

    from opply.orders import outbox

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=3) as connection:
        for name in (outbox.fulfilment_queue().name, outbox.dead_letter_queue().name, settings.CELERY_TASK_DEFAULT_QUEUE):
            with suppress(*connection.channel_errors):
                connection.channel().queue_delete(queue=name)
        # The last is the direct exchange Celery declared for the worker's task queue (named after it).
        for name in (outbox.events_exchange().name, outbox.dead_letter_exchange().name, settings.CELERY_TASK_DEFAULT_QUEUE):
            with suppress(*connection.channel_errors):
                connection.channel().exchange_delete(exchange=name)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("backlog")
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--orders", type=int, default=20_000)
    p = sub.add_parser("wait-drained")
    p.add_argument("--timeout", type=float, default=300)
    p = sub.add_parser("drain-watch")
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--since", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--timeout", type=float, default=600)
    p = sub.add_parser("lag")
    p.add_argument("--since", required=True)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("verify")
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    sub.add_parser("delete-broker-topology")
    p = sub.add_parser("cpu-snapshot")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("cpu-shares")
    p.add_argument("--before", type=Path, required=True)
    p.add_argument("--after", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "cpu-snapshot":
        return cpu_snapshot(args)
    if args.command == "cpu-shares":
        return cpu_shares(args)
    setup_django()
    return {
        "backlog": backlog,
        "wait-drained": wait_drained,
        "drain-watch": drain_watch,
        "lag": lag,
        "verify": verify,
        "delete-broker-topology": delete_broker_topology,
    }[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
