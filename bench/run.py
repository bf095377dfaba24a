# ruff: noqa: S310, S603, S607 - a local benchmark: fixed tools (gunicorn, wrk, pgbench, git) and loopback URLs only
"""One benchmark driver: gunicorn (production settings) on loopback, loaded by wrk.

    .venv/bin/python bench/run.py catalog [--products 100000 ...]
    .venv/bin/python bench/run.py orders [--diagnostics ...]

``catalog``: the customer product list (first page, a deep page, a filtered
page) against the floor (``/health/live/``), from the page cache under load,
plus single uncached requests. ``orders``: orders placed by CONNECTIONS
clients on one hot product and spread over many, then a verification that
nothing was oversold or lost (the run fails if it does not add up).
``--diagnostics`` adds where the CPU went, what PostgreSQL's backends waited
on, and (orders) pgbench's floor for the same conditional UPDATE.

Never part of the test suite. Everything is on 127.0.0.1, in the benchmarks'
own database and Redis db (BENCH_DATABASE, BENCH_REDIS_DB). Every option
also reads the environment variable named in its help. Results:
``bench/results/<kind>-<UTC time>.json`` and gunicorn's log next to it.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
VENV = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"
WRK_REPORT = ROOT / "bench" / "common" / "wrk_report.lua"
ORDERS_LUA = ROOT / "bench" / "orders" / "orders.lua"
URLS_LUA = ROOT / "bench" / "catalog" / "urls.lua"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def die(message: str) -> None:
    raise SystemExit(f"[bench] ERROR: {message}")


# --- Environment, server, wrk --------------------------------------------------------------


def bench_environment() -> dict[str, str]:
    """Production settings on the benchmarks' own data, everything explicit (a
    developer's .env fills whatever is left unset), a throwaway signing key."""
    database, redis_db = os.environ.get("BENCH_DATABASE", "opply_bench"), os.environ.get("BENCH_REDIS_DB", "13")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database) or database == "opply":
        die(f"BENCH_DATABASE must be a plain lower-case name other than 'opply' (development data), got {database!r}")
    if not redis_db.isdigit() or int(redis_db) in (0, 15):
        die(f"BENCH_REDIS_DB must be a Redis db number other than 0 (development) and 15 (tests), got {redis_db!r}")
    url = f"postgres://postgres@{HOST}:5432/{database}"
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": url,
        "DATABASE_REPLICA_URL": url,
        "DATABASE_CONN_MAX_AGE": "60",
        "REDIS_URL": f"redis://{HOST}:6379/{redis_db}",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": f"{HOST},localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_NUM_PROXIES": "0",
        "THROTTLE_RATE_USER": "100000000/min",  # throttles would cap what is measured
        "THROTTLE_RATE_ANON": "100000000/min",
        "JWT_ACCESS_MINUTES": "120",
    }


def setup_django(env: dict[str, str]) -> None:
    """Django in this process, as manage.py commands run (no statement timeout:
    seeding a large catalog takes longer than a request may)."""
    os.environ.update({**env, "PROCESS_ROLE": "maintenance"})
    sys.path.insert(0, str(ROOT))
    import django

    subprocess.run([sys.executable, "scripts/ensure_database.py"], cwd=ROOT, check=True)
    django.setup()
    manage("migrate", "--noinput", verbosity=0)


def manage(*args: str, **options: Any) -> str:
    """A manage.py command in this process; its output (CommandError propagates)."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(*args, stdout=out, stderr=out, **options)
    return out.getvalue()


def http(method: str, url: str, *, token: str | None = None, body: Any = None, key: str | None = None) -> tuple[int, Any, float]:
    """Status, JSON body (None if not JSON) and seconds of one request."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {**headers, **({"Idempotency-Key": key} if key else {})}, method=method)
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    with suppress(ValueError):
        return status, json.loads(raw), time.perf_counter() - start
    return status, None, time.perf_counter() - start


@contextmanager
def gunicorn(args: argparse.Namespace, env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn on 127.0.0.1:PORT; stopped gracefully (requests in progress finish) on the way out."""
    base = f"http://{HOST}:{args.port}"
    with suppress(OSError), socket.create_connection((HOST, args.port), timeout=1):
        die(f"something already listens on {base}: stop it or set PORT")
    server_env = {
        **{name: value for name, value in os.environ.items() if name != "PROCESS_ROLE"},  # config/wsgi.py sets "web"
        **env,
        "HOST": HOST,
        "PORT": str(args.port),
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": "1",
        "GUNICORN_MAX_REQUESTS": str(args.max_requests),
        "GUNICORN_ACCESSLOG": "/dev/null",  # config/gunicorn.py cannot switch it off
    }
    log(f"starting gunicorn on {base} with {args.workers} sync workers (log: {log_path.relative_to(ROOT)})")
    with open(log_path, "wb") as output:
        server = subprocess.Popen(
            [str(VENV / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"], cwd=ROOT, env=server_env, stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(OSError):
                if http("GET", f"{base}/health/live/")[0] == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                die(f"gunicorn did not answer {base}/health/live/ within 60 s; see {log_path}")
            time.sleep(0.25)
        yield server
    finally:
        stop(server)


def stop(process: subprocess.Popen[bytes], grace: float = 25) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wrk(
    args: argparse.Namespace,
    url: str,
    seconds: int,
    *,
    token: str | None = None,
    script: Path = WRK_REPORT,
    script_args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One wrk run; its WRK_RESULT (and WRK_SENT, if the script prints it)."""
    command = ["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{seconds}s", "--timeout", "5s", "-s", str(script)]
    command += ["-H", f"Authorization: Bearer {token}"] if token else []
    command += [url, *(["--", *script_args] if script_args else [])]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "WRK_REPORT_LUA": str(WRK_REPORT)}, check=False
    )
    markers = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in done.stdout.splitlines() if line.startswith("WRK_")}
    if done.returncode != 0 or "WRK_RESULT" not in markers:
        die(f"wrk failed on {url}: {(done.stdout + done.stderr)[-500:]}")
    return {**markers["WRK_RESULT"], **markers.get("WRK_SENT", {}), **({"cache": markers["WRK_CACHE"]} if "WRK_CACHE" in markers else {})}


# --- Diagnostics (--diagnostics) ----------------------------------------------------------


def cpu_snapshot() -> dict[str, Any]:
    """CPU ticks of the machine (busy) and per command name (Linux /proc)."""
    by_command: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, ValueError, IndexError):
                text = (entry / "stat").read_text()
                fields = text[text.rindex(")") + 2 :].split()
                name = text[text.index("(") + 1 : text.rindex(")")]
                by_command[name] = by_command.get(name, 0) + int(fields[11]) + int(fields[12])
    # The first line of /proc/stat: every core's ticks, the 4th and 5th idle.
    ticks = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    return {"total": sum(ticks), "commands": by_command}


def cpu_shares(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """% of the machine's CPU (all cores) per command name during a run: the six busiest."""
    total = max(after["total"] - before["total"], 1)
    ticks = {name: t - before["commands"].get(name, 0) for name, t in after["commands"].items()}
    return {name: round(100 * t / total, 1) for name, t in sorted(ticks.items(), key=lambda kv: -kv[1])[:6] if t > 0}


@contextmanager
def pg_waits() -> Iterator[dict[str, float]]:
    """What the database's backends were doing, sampled every 100 ms: average backends per state/wait."""
    from django.db import connections

    counts: dict[str, float] = {}
    samples, stopping = [0], threading.Event()

    def sample() -> None:
        with connections["default"].cursor() as cursor:
            while not stopping.is_set():
                cursor.execute(
                    "SELECT CASE WHEN state LIKE 'idle in transaction%%' THEN 'in transaction: app' "
                    "ELSE coalesce(wait_event_type || ':' || wait_event, 'CPU') END FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
                for (what,) in cursor.fetchall():
                    counts[what] = counts.get(what, 0) + 1
                samples[0] += 1
                stopping.wait(0.1)
        connections["default"].close()

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    averages: dict[str, float] = {}
    try:
        yield averages
    finally:
        stopping.set()
        thread.join()
        averages.update({what: round(n / max(samples[0], 1), 2) for what, n in sorted(counts.items(), key=lambda kv: -kv[1])})


def measured(args: argparse.Namespace, run: Any) -> dict[str, Any]:
    """``run()`` (a wrk run) with, under --diagnostics, where the CPU went and the database's waits."""
    if not args.diagnostics:
        return run()
    before = cpu_snapshot()
    with pg_waits() as waits:
        result = run()
    return {**result, "cpu_percent": cpu_shares(before, cpu_snapshot()), "pg_waits": waits}


# --- Reporting ------------------------------------------------------------------------


def run_ratios(runs: dict[str, list[dict[str, Any]]], name: str, base: str) -> str:
    """The ratio of two scenarios' throughput within each run, as percentages:
    measured a few seconds apart, each pair shares the machine's speed of the
    moment (the medians of the report may come from different runs)."""
    return ", ".join(f"{100 * ratio(a['rps'], b['rps']):.0f} %" for a, b in zip(runs[name], runs[base], strict=True))


def report(kind: str, args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], extra: dict[str, Any]) -> dict[str, Any]:
    """Print the table (medians over the runs; errors summed) and write the JSON."""
    summary: dict[str, dict[str, Any]] = {}
    header = f"{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  {'runs (req/s)':<14}{'non-2xx':>8}{'sock err':>9}{'hit %':>7}"
    print(f"\n{'scenario':<13}{header}")
    for name, results in runs.items():
        med = {key: statistics.median(r[key] for r in results) for key in ("rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms")}
        errors = {"non2xx": sum(r["non2xx"] for r in results), "socket": sum(sum(r["socket_errors"].values()) for r in results)}
        # Many-URL scenarios count the list's X-Cache answers (bench/catalog/urls.lua).
        hits, misses = (sum(r["cache"][k] for r in results if "cache" in r) for k in ("hit", "miss"))
        summary[name] = {**med, **errors, "hit_pct": round(100 * hits / (hits + misses), 1) if hits + misses else None}
        spread = f"{min(r['rps'] for r in results):.0f}..{max(r['rps'] for r in results):.0f}"
        row = f"{med['rps']:>9.1f}{med['p50_ms']:>9.1f}{med['p95_ms']:>9.1f}{med['p99_ms']:>9.1f}  {spread:<14}"
        print(f"{name:<13}{row}{errors['non2xx']:>8}{errors['socket']:>9}{summary[name]['hit_pct'] or '':>7}")
        for diagnostic in ("cpu_percent", "pg_waits"):
            for r in results:
                if diagnostic in r:
                    print(f"    {diagnostic}: {r[diagnostic]}")

    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    document = {
        "kind": kind,
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "cpus": os.cpu_count(),
        "options": vars(args),
        "summary": summary,
        "runs": runs,
        **extra,
    }
    args.result.write_text(json.dumps(document, indent=1, default=str) + "\n")
    log(f"results: {args.result.relative_to(ROOT)}")
    return summary


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# --- catalog ------------------------------------------------------------------------------


def warm_availability() -> None:
    """Every product's key in the availability store, as a running store holds
    them (they never expire; a missing one is rebuilt from PostgreSQL on first
    use). The run starts by flushing the bench's Redis db so that no page is
    cached; without this, every miss would also rebuild the keys of its page's
    products, which production pays only after losing Redis."""
    from opply.catalog import inventory
    from opply.catalog.stock import on_hand_batches

    started, loaded = time.monotonic(), 0
    for batch in on_hand_batches(5000):
        inventory.sync_on_hand_restoring(batch)
        loaded += len(batch)
    log(f"availability store: {loaded} products loaded in {time.monotonic() - started:.0f} s")


def catalog(args: argparse.Namespace, env: dict[str, str]) -> int:
    import redis

    redis.Redis.from_url(env["REDIS_URL"], socket_timeout=3).flushdb()  # no page cached from an earlier run
    setup_django(env)
    from opply.catalog.keys import VERSION_KEY
    from opply.catalog.models import Product
    from opply.identity.models import User
    from opply.identity.tokens import IssuedRefreshToken

    existing = Product.objects.count()
    if existing < args.products:
        log(f"seeding {args.products - existing} products (the bench database has {existing})")
        manage("seed_catalog", "--products", str(args.products - existing))
        existing = Product.objects.count()
    if args.availability == "warm":
        warm_availability()
    tokens = {}
    for username, staff in (("bench-customer", False), ("bench-staff", True)):
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        if user.is_staff != staff or not user.is_active:
            user.is_staff, user.is_active = staff, True
            user.save(update_fields=["is_staff", "is_active"])
        tokens[username] = str(IssuedRefreshToken.for_user(user).access_token)
    token, work = tokens["bench-customer"], Path(tempfile.mkdtemp())

    def paths(*command: str) -> list[str]:
        """Request paths from bench/catalog/urls.py (long tail, churn searches, a deep position)."""
        out = subprocess.run([sys.executable, "-m", "bench.catalog.urls", *command], cwd=ROOT, capture_output=True, text=True, check=True)
        return out.stdout.split()

    def url_file(name: str, lines: list[str]) -> Path:
        (work / f"{name}.txt").write_text("\n".join(lines) + "\n")
        shutil.copy(work / f"{name}.txt", args.result.with_suffix(f".{name}.txt"))
        return work / f"{name}.txt"

    base = f"http://{HOST}:{args.port}"
    with gunicorn(args, env, args.result.with_suffix(".gunicorn.log")):
        status, first, _ = http("GET", f"{base}/api/catalog/products/", token=token)
        if status != 200 or not first["count"]:
            die(f"the first page answered {status} or is empty: {first}")
        listed, pages = first["count"], (first["count"] + 19) // 20
        # name -> (path or file of paths, token); a file: wrk's urls.lua picks one at random per request
        scenarios: dict[str, tuple[str | Path, str | None]] = {
            "health-live": ("/health/live/", None),
            "first-page": ("/api/catalog/products/", token),
            "deep-page": (paths("deep", "--offset", str((max(pages * 2 // 3, 1) - 1) * 20))[0], token),
            "filtered": (f"/api/catalog/products/?{args.filter_query}", token),
            "longtail": (
                url_file("longtail", paths("longtail", "--count", str(args.longtail_urls), "--pages", str(pages), "--seed", "1")),
                token,
            ),
        }
        if args.churn:
            churned = first["results"][0]
            scenarios["churn-quiet"] = scenarios["churn"] = (url_file("churn", paths("churn", "--avoid", churned["name"])), token)
        for name, (path, auth) in scenarios.items():
            probe = path if isinstance(path, str) else path.read_text().split()[0]
            status, body, _ = http("GET", base + probe, token=auth)
            if status != 200 or (name == "filtered" and not body["count"]):
                die(f"{name}: GET {probe} answered {status} (or matched nothing; pick another FILTER_QUERY)")
        log(f"{existing} products, {listed} listed ({pages} pages); {len(scenarios)} scenarios x {args.repeat} runs")

        def load(name: str, seconds: int) -> dict[str, Any]:
            path, auth = scenarios[name]
            churn = None
            if name == "churn":  # sell the first product out and restock it every CHURN_EVERY s meanwhile
                command = ["-m", "bench.catalog.churn", "--base-url", base, "--token", tokens["bench-staff"], "--product", churned["id"]]
                command += ["--every", str(args.churn_every), "--seconds", str(seconds + 30)]
                churn = subprocess.Popen([sys.executable, *command], cwd=ROOT, stdout=subprocess.PIPE, text=True)
            if isinstance(path, str):
                result = wrk(args, base + path, seconds, token=auth)
            else:
                result = wrk(args, base, seconds, token=auth, script=URLS_LUA, script_args=(str(path),))
            if churn is not None:
                churn.send_signal(signal.SIGTERM)
                flips = [line for line in churn.communicate()[0].splitlines() if line.startswith("CHURN ")]
                result["churn"] = json.loads(flips[-1].split(" ", 1)[1]) if flips else None
            # Wait until the server answers at once again: a backlog must not land in the next run.
            deadline = time.monotonic() + 60
            while http("GET", f"{base}/health/live/")[2] > 0.05 and time.monotonic() < deadline:
                time.sleep(0.2)
            return result

        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in scenarios}
        for n in range(args.repeat):
            for name in scenarios:
                load(name, args.warmup)
                runs[name].append(measured(args, lambda name=name: load(name, args.duration)))
                log(f"run {n + 1}/{args.repeat} {name}: {runs[name][-1]['rps']:.1f} req/s")
        # Cold single requests: each right after dropping the catalog version (nothing cached).
        cold_paths = {
            "first-page": "/api/catalog/products/",
            "deep": paths("deep", "--offset", str(listed * 9 // 10 // 20 * 20))[0],
            "search": f"/api/catalog/products/?search={args.cold_search}",
            "category-ordering": "/api/catalog/products/?category=coffee&ordering=-price",
            "price-range": "/api/catalog/products/?min_price=10&max_price=12",
        }
        cold = {}
        for name, path in cold_paths.items():
            times = []
            for _ in range(args.uncached_samples):
                redis.Redis.from_url(env["REDIS_URL"]).delete(VERSION_KEY)
                status, _, seconds = http("GET", base + path, token=token)
                if status != 200:
                    die(f"cold {name}: GET {path} answered {status}")
                times.append(seconds * 1000)
            cold[name] = round(statistics.median(times), 1)
    shutil.rmtree(work)
    summary = report("catalog", args, runs, {"products": existing, "listed": listed, "cold_ms": cold, "cold_paths": cold_paths})
    print(f"\ncold single requests, ms (median of {args.uncached_samples}, no load): {cold}")
    print(
        f"first-page req/s = {100 * ratio(summary['first-page']['rps'], summary['health-live']['rps']):.0f} % of health-live "
        f"(run by run: {run_ratios(runs, 'first-page', 'health-live')})"
    )
    print(
        f"longtail req/s = {100 * ratio(summary['longtail']['rps'], summary['first-page']['rps']):.0f} % of first-page "
        f"(run by run: {run_ratios(runs, 'longtail', 'first-page')})"
    )
    if args.churn:
        flips = [r["churn"] for r in runs["churn"] if r.get("churn")]
        print(
            f"churn: {sum(f['flips'] for f in flips)} stock flips ({sum(f['errors'] for f in flips)} failed); hit % churn "
            f"{summary['churn'].get('hit_pct')} vs quiet {summary['churn-quiet'].get('hit_pct')}; "
            f"p95 churn / quiet = {ratio(summary['churn']['p95_ms'], summary['churn-quiet']['p95_ms']):.2f}"
        )
    for name in ("deep-page", "filtered"):
        print(f"{name} p50 / first-page p50 = {ratio(summary[name]['p50_ms'], summary['first-page']['p50_ms']):.2f}")
    return 0


# --- orders -----------------------------------------------------------------------------


def prepare_orders(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """bench/orders/prepare.py (shared with the fulfilment benchmark): the hot
    and spread products counted back to their starting stock, the customers
    and their tokens; its files in ``work``."""
    from bench.orders import prepare

    options = {"--work-dir": work, "--spread": args.spread_products, "--customers": args.customers}
    options |= {"--hot-stock": args.hot_stock, "--spread-stock": args.spread_stock}
    prepare.main([str(part) for option in options.items() for part in option])
    prepared = json.loads((work / "prepare.json").read_text())
    return {
        **prepared,
        "run_start": datetime.fromisoformat(prepared["run_start"]),
        "hot": [prepared["hot"]],
        "token": (work / "tokens.txt").read_text().split()[0],
    }


def verify_orders(prepared: dict[str, Any], seen: dict[str, dict[str, int]], key_prefix: str) -> list[tuple[str, bool, str]]:
    """Nothing oversold, lost or left behind: each check (name, passed, detail)."""
    from django.core.management.base import CommandError
    from django.db.models import Count, Sum

    from opply.catalog.models import Stock
    from opply.common.redis import get_redis
    from opply.orders.models import IdempotencyRecord, Order, OrderLine

    checks = []
    for command in ("stock_audit", "inventory_reconcile"):
        try:
            checks.append((f"manage.py {command}", True, manage(command).strip().splitlines()[-1]))
        except CommandError as error:
            checks.append((f"manage.py {command}", False, str(error)))
    negative = Stock.objects.filter(on_hand__lt=0).count()
    checks.append(("no on_hand below zero", negative == 0, f"{negative} below zero"))
    orders = Order.objects.filter(customer_id__in=prepared["customers"], created_at__gte=prepared["run_start"])
    sold = {str(p): units for p, units in OrderLine.objects.filter(order__in=orders).values_list("product_id").annotate(Sum("quantity"))}
    now = dict(Stock.objects.filter(product_id__in=[p["id"] for p in prepared["products"].values()]).values_list("product_id", "on_hand"))
    wrong = [
        f"{p['sku']}: {p['start_on_hand'] - now[p['id']]} left the stock, {sold.get(public_id, 0)} sold"
        for public_id, p in prepared["products"].items()
        if p["start_on_hand"] - now[p["id"]] != sold.get(public_id, 0)
    ]
    wrong += [f"orders of another product {p}" for p in set(sold) - set(prepared["products"])]
    units = sum(sold.values())
    checks.append(
        (
            "stock that left == units sold, per product",
            not wrong,
            f"{units} units sold, every one accounted for" if not wrong else "; ".join(wrong[:5]),
        )
    )
    statuses = dict(orders.values_list("status").annotate(n=Count("id")))
    checks.append(("every order confirmed", set(statuses) <= {Order.Status.CONFIRMED}, f"orders by status: {statuses}"))
    for scenario in ("hot", "spread"):
        placed = orders.filter(lines__product_id__in=prepared[scenario]).distinct().count()
        ok, cut = seen[scenario]["201"], seen[scenario]["unanswered"]
        checks.append(
            (
                f"{scenario}: orders == 201s seen (+ requests cut off at a run's end)",
                ok <= placed <= ok + cut,
                f"{placed} orders, {ok} 201s, {cut} unanswered",
            )
        )
    records = IdempotencyRecord.objects.filter(customer_id__in=prepared["customers"], key__startswith=key_prefix)
    done, other, total = records.filter(response_status=201).count(), records.exclude(response_status=201).count(), orders.count()
    checks.append(
        ("one stored outcome (201) per order", done == total and other == 0, f"{total} orders, {done} outcomes 201, {other} other")
    )
    redis, deadline = get_redis(), time.monotonic() + 3
    while (left := list(redis.scan_iter(match="hold:*", count=1000))) and time.monotonic() < deadline:
        time.sleep(0.5)
    checks.append(("no reservation left in Redis", not left, f"hold keys: {left[:5]}"))
    return checks


def pgbench_floor(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """pgbench of the one-row conditional UPDATE an order ends with, alone, on a scratch table."""
    from django.db import connection

    floor: dict[str, Any] = {}
    pg_env = {**os.environ, "PGHOST": HOST, "PGUSER": "postgres", "PGDATABASE": env["DATABASE_URL"].rsplit("/", 1)[1]}
    for name, pick in (("hot", "1"), ("spread", f"random(1, {args.spread_products})")):
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS public.bench_floor_stock (product_id int PRIMARY KEY, on_hand int NOT NULL CHECK (on_hand >= 0))"
            )
            cursor.execute("TRUNCATE public.bench_floor_stock")
            cursor.execute("INSERT INTO public.bench_floor_stock SELECT g, 100000000 FROM generate_series(1, %s) g", [args.spread_products])
        script = Path(tempfile.mkstemp(suffix=".sql")[1])
        script.write_text(
            f"\\set p {pick}\nUPDATE public.bench_floor_stock SET on_hand = on_hand - 1 WHERE product_id = :p AND on_hand >= 1;\n"
        )
        out = subprocess.run(
            ["pgbench", "-n", "-c", str(args.connections), "-j", str(args.wrk_threads), "-T", str(args.pgbench_seconds), "-f", str(script)],
            env=pg_env,
            capture_output=True,
            text=True,
            check=False,
        )
        script.unlink()
        tps = re.search(r"tps = ([\d.]+)", out.stdout)
        floor[name] = float(tps.group(1)) if tps else out.stderr[-300:]
    return floor


def orders(args: argparse.Namespace, env: dict[str, str]) -> int:
    setup_django(env)
    from django.db import connections

    from opply.common.redis import get_redis

    # Holds can only be left by an interrupted earlier run (nothing else orders here).
    redis = get_redis()
    for key in redis.scan_iter(match="hold:*", count=1000):
        redis.delete(key)
    redis.delete("holds:expiry")
    manage("stock_audit")  # the ledger balances before the run, or the verification says nothing
    log(f"preparing {args.spread_products} + 1 products and {args.customers} customers")
    work = Path(tempfile.mkdtemp())
    prepared = prepare_orders(args, work)
    files = {name: work / f"{name}.txt" for name in ("tokens", "hot", "spread")}
    manage("inventory_reconcile", "--fix")
    manage("inventory_reconcile")
    connections.close_all()
    key_prefix = f"bench-{args.stamp}-{secrets.token_hex(4)}"
    seen = {name: {"201": 0, "unanswered": 0} for name in ("hot", "spread")}
    url = f"http://{HOST}:{args.port}/api/orders/orders/"

    def post_hot(label: str) -> float:
        line = {"product_id": prepared["hot"][0], "quantity": 1}
        status, body, seconds = http("POST", url, token=prepared["token"], body={"items": [line]}, key=f"{key_prefix}-{label}")
        if status != 201:
            die(f"placing an order answered {status}, not 201: {body}")
        seen["hot"]["201"] += 1
        return seconds

    def load(name: str, seconds: int, label: str) -> dict[str, Any]:
        result = wrk(
            args, url, seconds, script=ORDERS_LUA, script_args=(str(files["tokens"]), str(files[name]), f"{key_prefix}-{name}-{label}")
        )
        seen[name]["201"] += result["statuses"].get("201", 0)
        seen[name]["unanswered"] += result["unanswered"]
        # Wait until the server has taken every request wrk left queued (the
        # backlog is first in, first out): the next run starts on an idle server.
        http("GET", f"http://{HOST}:{args.port}/health/live/")
        return result

    runs: dict[str, list[dict[str, Any]]] = {"hot": [], "spread": []}
    with gunicorn(args, env, args.result.with_suffix(".gunicorn.log")):
        post_hot("probe")
        for n in range(args.repeat):
            # Interleaved, in alternating order (hot, spread, spread, hot...): drift favours neither.
            for name in ("hot", "spread") if n % 2 == 0 else ("spread", "hot"):
                load(name, args.warmup, f"w{n}")
                runs[name].append(measured(args, lambda name=name, n=n: load(name, args.duration, str(n))))
                log(f"run {n + 1}/{args.repeat} {name}: {runs[name][-1]['rps']:.1f} orders/s {runs[name][-1]['statuses']}")
        alone = statistics.median(post_hot(f"alone-{k}") for k in range(10)) * 1000
    shutil.rmtree(work)
    log("verifying: ledger, stock sold vs orders, orders vs 201s, idempotency records, Redis vs PostgreSQL, leftover holds")
    checks = verify_orders(prepared, seen, key_prefix)
    floor = pgbench_floor(args, env) if args.diagnostics else {}
    summary = report("orders", args, runs, {"order_alone_ms": alone, "checks": checks, "pgbench_tps": floor})
    print(f"\none order alone (no load): {alone:.1f} ms")
    for name, ok, detail in checks:
        print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
    passed = all(ok for _, ok, _ in checks)
    print("\ngoals:")
    print(f"  zero oversell: {'met' if passed else 'NOT MET'}")
    print(f"  hot >= 50 % of spread: {100 * ratio(summary['hot']['rps'], summary['spread']['rps']):.0f} %")
    print(f"  p99 < 250 ms at {args.connections} clients: {max(s['p99_ms'] for s in summary.values()):.0f} ms")
    for name, tps in floor.items():
        print(
            f"  pgbench {name}: {tps} tps (API: {100 * ratio(summary[name]['rps'], tps) if isinstance(tps, float) else float('nan'):.0f} %)"
        )
    if not passed:
        die("VERIFICATION FAILED (see the [FAIL] lines above): stock, orders or availability do not add up")
    return 0


# --- Command line ------------------------------------------------------------------------


# (flag, environment variable, default, help); a default per kind where they differ.
COMMON_KNOBS = [
    ("--duration", "DURATION", {"catalog": 10, "orders": 20}, "seconds of each measured run"),
    ("--warmup", "WARMUP", 3, "seconds of the warm-up before each run"),
    ("--repeat", "REPEAT", {"catalog": 3, "orders": 1}, "runs per scenario (the median is reported)"),
    ("--connections", "CONNECTIONS", {"catalog": 32, "orders": 64}, "wrk connections (requests in flight)"),
    ("--wrk-threads", "WRK_THREADS", 2, "wrk threads"),
    # The catalog runs as `make serve` starts it (config/gunicorn.py: 2 x cores + 1).
    ("--workers", "WEB_CONCURRENCY", {"catalog": os.cpu_count() * 2 + 1, "orders": 4}, "gunicorn sync workers"),
    ("--port", "PORT", {"catalog": 8765, "orders": 8766}, "port on 127.0.0.1"),
    ("--max-requests", "GUNICORN_MAX_REQUESTS", 0, "recycle workers after N requests (0: never)"),
]
KNOBS = {
    "catalog": [
        ("--products", "PRODUCTS", 100_000, "products the bench database must hold at least"),
        ("--filter-query", "FILTER_QUERY", "category=coffee&search=smoked&min_price=5&max_price=80&ordering=-price", "filtered scenario"),
        ("--longtail-urls", "LONGTAIL_URLS", 50_000, "distinct requests of the long-tail scenario"),
        ("--churn", "CHURN", 1, "1: the churn-quiet and churn scenarios; 0: leave them out"),
        ("--churn-every", "CHURN_EVERY", 3, "seconds between the churn scenario's stock flips"),
        ("--uncached-samples", "UNCACHED_SAMPLES", 5, "samples of each cold single request (the median is reported)"),
        ("--cold-search", "COLD_SEARCH", "smoked", "search of the cold single requests"),
        (
            "--availability",
            "AVAILABILITY",
            "warm",
            "warm: load every product's availability key before the load, as a running store holds them; "
            "cold: leave the flushed store empty (each miss then rebuilds its page's keys from PostgreSQL)",
        ),
    ],
    "orders": [
        ("--customers", "CUSTOMERS", 64, "distinct customers the load comes from"),
        ("--spread-products", "SPREAD_PRODUCTS", 1000, "products of the spread scenario"),
        ("--hot-stock", "HOT_STOCK", 5_000_000, "starting stock of the hot product"),
        ("--spread-stock", "SPREAD_STOCK", 100_000, "starting stock of each spread product"),
        ("--pgbench-seconds", "PGBENCH_SECONDS", 10, "seconds of each pgbench run (--diagnostics)"),
    ],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    for kind, knobs in KNOBS.items():
        sub = kinds.add_parser(kind)
        for flag, variable, default, text in COMMON_KNOBS + knobs:
            default = default[kind] if isinstance(default, dict) else default
            value_type = type(default)
            sub.add_argument(
                flag, type=value_type, default=value_type(os.environ.get(variable, default)), help=f"{text} (${variable}, {default})"
            )
        sub.add_argument("--diagnostics", action="store_true", help="CPU per process, database waits (orders: and a pgbench floor)")
    args = parser.parse_args()
    for name, value in vars(args).items():
        if isinstance(value, int) and not isinstance(value, bool) and value < (0 if name in ("max_requests", "churn") else 1):
            die(f"--{name.replace('_', '-')} must be a positive whole number, got {value}")
    if getattr(args, "availability", "warm") not in ("warm", "cold"):
        die(f"--availability must be warm or cold, got {args.availability!r}")
    if not (VENV / "gunicorn").exists() or shutil.which("wrk") is None:
        die("needs .venv (make install) and wrk (apt-get install wrk)")
    args.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    args.result = RESULTS / f"{args.kind}-{args.stamp}.json"
    env = bench_environment()
    started = time.monotonic()
    status = catalog(args, env) if args.kind == "catalog" else orders(args, env)
    log(f"done in {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
