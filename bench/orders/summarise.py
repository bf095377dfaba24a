"""Summarise an orders benchmark run: figures, goals, the database's floor, the verdict.

Reads what ``bench/orders/run.sh`` saved in its work directory:

* ``<scenario>.<n>.out``: measured wrk runs (``WRK_RESULT`` and ``WRK_SENT``
  lines from bench/orders/orders.lua), with CPU snapshots around each
  (``<scenario>.<n>.cpu-before.json`` / ``-after.json``);
* ``pgbench-<scenario>.out`` and ``pgbench-<scenario>.floor.json``: pgbench's
  output and the scratch table's state afterwards;
* ``verify.json``: the checks of verify.py;

prints the table, the ratios against the goals, the pgbench floor and the
verification, and writes everything to ``--out``. Standard library only.

Usage (run.sh does this)::

    summarise.py --work-dir DIR --out FILE --repeat 1 [--own-pid PID ...] [--meta key=value ...]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.common.results import key_value, marker, typed

SCENARIOS = {
    "hot": "every order for 1 unit of one product (BENCH-HOT)",
    "spread": "every order for 1 unit of a random one of the spread products",
}
MEDIAN_FIELDS = ("rps", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")
SOCKET_ERRORS = ("connect", "read", "write", "timeout")

# The goals of the issue.
HOT_OVER_SPREAD_GOAL_PCT = 50.0
P99_GOAL_MS = 250.0

# What pgbench runs (p fixed for hot, random for spread): the statement an
# order ends with (opply/catalog/stock.py), alone.
FLOOR_STATEMENT = "UPDATE bench_floor_stock SET on_hand = on_hand - 1, version = version + 1 WHERE product_id = :p AND on_hand >= 1"

# Services the benchmark drives: their CPU is part of the measurement.
SERVICES = {"postgres", "redis-server"}
OTHER_CPU_WARN_PCT = 5.0


def cpu_breakdown(before: dict[str, Any], after: dict[str, Any], own_pids: set[int], gunicorn_pid: int | None) -> dict[str, Any]:
    """Where the machine's CPU went during a run (bench/common/cpu_snapshot.py), in % of all CPUs.

    Groups: gunicorn (its master and workers), postgres, redis, wrk and
    pgbench, and *other*: anything outside the benchmark (not one of
    ``own_pids`` or their children, not a service the benchmark drives, not
    a kernel thread). A process that started during the run counts in full;
    one that both started and ended during the run is missed.
    """
    clock = after["clock_ticks"]
    busy = after["machine"]["busy"] - before["machine"]["busy"]
    idle = after["machine"]["idle"] - before["machine"]["idle"]
    total = max(busy + idle, 1)
    groups = {"gunicorn": 0, "postgres": 0, "redis": 0, "load generator": 0, "kernel threads": 0}
    others: list[tuple[int, str, str]] = []
    for pid, proc in after["processes"].items():
        previous = before["processes"].get(pid)
        ticks = proc["ticks"] - previous["ticks"] if previous and previous["comm"] == proc["comm"] else proc["ticks"]
        if ticks <= 0:
            continue
        if gunicorn_pid is not None and gunicorn_pid in (int(pid), proc["ppid"]):
            groups["gunicorn"] += ticks
        elif proc["comm"] == "postgres":
            groups["postgres"] += ticks
        elif proc["comm"] == "redis-server":
            groups["redis"] += ticks
        elif proc["comm"] in ("wrk", "pgbench"):
            groups["load generator"] += ticks
        elif pid == "2" or proc["ppid"] == 2:
            groups["kernel threads"] += ticks
        elif int(pid) in own_pids or proc["ppid"] in own_pids or proc["comm"] in SERVICES:
            continue
        else:
            others.append((ticks, pid, proc["comm"]))
    others.sort(reverse=True)
    attributed = sum(groups.values()) + sum(ticks for ticks, _, _ in others)
    steal = after["machine"].get("steal", 0) - before["machine"].get("steal", 0)
    # Busy time no process accounts for: interrupts (loopback networking),
    # the hypervisor's steal, processes that came and went within the run.
    groups["interrupts, steal, short-lived"] = max(busy - attributed, 0)
    return {
        "machine_idle_pct": 100 * idle / total,
        "steal_pct": 100 * steal / total,
        "by_group_pct": {name: 100 * ticks / total for name, ticks in groups.items()},
        "other_cpu_pct": 100 * sum(ticks for ticks, _, _ in others) / total,
        "top_others": [{"pid": int(pid), "comm": comm, "cpu_s": ticks / clock} for ticks, pid, comm in others[:3]],
    }


def cpu_of(work: Path, stem: str, own_pids: set[int], gunicorn_pid: int | None) -> dict[str, Any] | None:
    before, after = work / f"{stem}.cpu-before.json", work / f"{stem}.cpu-after.json"
    if not (before.exists() and after.exists()):
        return None
    return cpu_breakdown(json.loads(before.read_text()), json.loads(after.read_text()), own_pids, gunicorn_pid)


def read_run(work: Path, scenario: str, n: int, own_pids: set[int], gunicorn_pid: int | None) -> dict[str, Any]:
    path = work / f"{scenario}.{n}.out"
    run = marker(path, "WRK_RESULT")
    run["unanswered"] = marker(path, "WRK_SENT")["unanswered"]
    run["errors"] = run["non2xx"] + sum(run["socket_errors"][kind] for kind in SOCKET_ERRORS)
    cpu = cpu_of(work, f"{scenario}.{n}", own_pids, gunicorn_pid)
    if cpu is not None:
        run["cpu"] = cpu
    waits = work / f"{scenario}.{n}.pgwaits.json"
    if waits.exists():
        run["pg_backends"] = json.loads(waits.read_text())["average_backends"]
    return run


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {f"median_{f}": statistics.median(run[f] for run in runs) for f in MEDIAN_FIELDS}
    summary["min_rps"] = min(run["rps"] for run in runs)
    summary["max_rps"] = max(run["rps"] for run in runs)
    # Errors are summed, never medianed: one bad run must show.
    for f in ("requests", "non2xx", "errors", "unanswered"):
        summary[f"total_{f}"] = sum(run[f] for run in runs)
    summary["total_socket_errors"] = {kind: sum(run["socket_errors"][kind] for run in runs) for kind in SOCKET_ERRORS}
    statuses: dict[str, int] = {}
    for run in runs:
        for code, count in run["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    summary["total_statuses"] = dict(sorted(statuses.items()))
    cpu = [run["cpu"] for run in runs if "cpu" in run]
    summary["max_other_cpu_pct"] = max((c["other_cpu_pct"] for c in cpu), default=None)
    sampled = [run["pg_backends"] for run in runs if "pg_backends" in run]
    if sampled:
        states = {state for backends in sampled for state in backends}
        averages = {state: statistics.mean(backends.get(state, 0.0) for backends in sampled) for state in states}
        summary["pg_backends"] = dict(sorted(averages.items(), key=lambda item: -item[1]))
    if cpu:
        summary["median_cpu_pct"] = {
            **{group: statistics.median(c["by_group_pct"][group] for c in cpu) for group in cpu[0]["by_group_pct"]},
            "idle": statistics.median(c["machine_idle_pct"] for c in cpu),
        }
    return summary


_PGBENCH_PATTERNS = {
    "tps": r"^tps = ([\d.]+) \(without initial connection time\)",
    "latency_avg_ms": r"^latency average = ([\d.]+) ms",
    "transactions": r"^number of transactions actually processed: (\d+)",
    "failed": r"^number of failed transactions: (\d+)",
    "clients": r"^number of clients: (\d+)",
    "duration_s": r"^duration: (\d+) s",
}


def read_pgbench(work: Path, scenario: str, own_pids: set[int], gunicorn_pid: int | None) -> dict[str, Any] | None:
    path = work / f"pgbench-{scenario}.out"
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    result: dict[str, Any] = {}
    for name, pattern in _PGBENCH_PATTERNS.items():
        match = re.search(pattern, text, re.MULTILINE)
        result[name] = typed(match.group(1)) if match else None
    if result["tps"] is None:
        raise SystemExit(f"summarise: no tps line in {path}")
    floor = work / f"pgbench-{scenario}.floor.json"
    if floor.exists():
        # The scratch table afterwards: every transaction must have decremented one row.
        result["table"] = json.loads(floor.read_text())
        result["table_consistent"] = result["table"]["units_taken"] == result["table"]["versions"] == result["transactions"]
    cpu = cpu_of(work, f"pgbench-{scenario}", own_pids, gunicorn_pid)
    if cpu is not None:
        result["cpu"] = cpu
    return result


def ratio_pct(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return 100 * numerator / denominator


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else format(value, spec) + suffix


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


def print_report(
    meta: dict[str, Any],
    summaries: dict[str, dict[str, Any]],
    runs: dict[str, list[dict[str, Any]]],
    pgbench: dict[str, dict[str, Any] | None],
    verification: dict[str, Any],
    ratios: dict[str, Any],
) -> None:
    print()
    print(
        f"Orders benchmark: {meta.get('workers', '?')} gunicorn sync workers, wrk {meta.get('wrk_threads', '?')} threads x "
        f"{meta.get('connections', '?')} connections ({meta.get('customers', '?')} customers), {meta.get('duration_s', '?')} s "
        f"per run after a {meta.get('warmup_s', '?')} s warm-up, {meta.get('repeat', '?')} run(s) per scenario, "
        f"{meta.get('cpus', '?')} CPUs"
    )
    print("  POST /api/orders/orders/ with 1 line of 1 unit, a bearer token and a unique Idempotency-Key per request")
    print("  orders/s, p50, p99: median of the runs; errors: non-2xx + socket errors, summed over the runs")
    print(
        "  cut off: requests without an answer when wrk stopped, summed (the server still completes them; "
        "wrk also counts one per run that it builds to check the script and never sends)"
    )
    header = f"{'scenario':<8} {'orders/s':>9} {'range':>11} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>7} {'cut off':>8} {'other CPU':>9}"
    print()
    print(header)
    print("-" * len(header))
    for name, s in summaries.items():
        other = s["max_other_cpu_pct"]
        print(
            f"{name:<8} {s['median_rps']:>9.1f} {s['min_rps']:>5.0f}..{s['max_rps']:<5.0f} {s['median_p50_ms']:>8.1f} "
            f"{s['median_p90_ms']:>8.1f} {s['median_p99_ms']:>8.1f} {s['total_errors']:>7d} {s['total_unanswered']:>8d} "
            f"{fmt(other, '.1f', ' %'):>9}"
        )
    print()
    for name, text in SCENARIOS.items():
        print(f"  {name:<8} {text}")
    print()
    print(f"CPU during the measured runs, % of the machine's {meta.get('cpus', '?')} CPUs (median of the runs):")
    for name, s in summaries.items():
        groups = s.get("median_cpu_pct")
        if groups:
            print(f"  {name:<8} " + ", ".join(f"{group} {pct:.0f} %" for group, pct in groups.items()))
    if any("pg_backends" in s for s in summaries.values()):
        print("PostgreSQL backends of the bench database in a statement or a transaction, on average, by what they wait on:")
        for name, s in summaries.items():
            backends = s.get("pg_backends", {})
            print(
                f"  {name:<8} total {sum(backends.values()):.2f}: "
                + ", ".join(f"{state} {n:.2f}" for state, n in backends.items() if n >= 0.01)
            )
    workers, alone = meta.get("workers"), meta.get("order_alone_ms")
    if isinstance(workers, int):
        print(
            f"One order alone (no load, warm workers, curl): {fmt(alone, '.1f', ' ms')}. Under load each of the {workers} sync workers takes "
            + " / ".join(f"{name} {1000 * workers / s['median_rps']:.1f} ms" for name, s in summaries.items() if s["median_rps"])
            + f" per order; the other {meta.get('connections', '?')} - {workers} requests wait in the listen backlog, "
            "so p50 is about connections / orders per second."
        )
    print()
    worst_p99 = ratios["worst_p99_ms"]
    print(
        f"hot / spread throughput:      {fmt(ratios['hot_over_spread_pct'], '.1f', ' %'):>9}   "
        f"goal >= {HOT_OVER_SPREAD_GOAL_PCT:.0f} %: {verdict(ratios['goal_hot_over_spread'])}"
    )
    print(
        f"p99 at {meta.get('connections', '?')} clients (worst):      {fmt(worst_p99, '.1f', ' ms'):>9}   "
        f"goal < {P99_GOAL_MS:.0f} ms: {verdict(ratios['goal_p99'])}"
        + ("" if meta.get("connections") == 64 else "   (the goal is stated for 64 clients)")
    )
    print(
        f"oversell:                     {'none' if verification.get('passed') else 'SEE VERIFICATION':>9}   "
        f"goal zero: {verdict(verification.get('passed'))}"
    )

    print()
    print(
        f"Database floor: pgbench, {meta.get('pgbench_clients', '?')} clients, {meta.get('pgbench_threads', '?')} threads, "
        f"{meta.get('pgbench_seconds', '?')} s, each transaction one autocommit statement on a scratch table of "
        f"{meta.get('spread_products', '?')} rows (public.bench_floor_stock, not the catalog):"
    )
    print(" ", FLOOR_STATEMENT)
    header = f"{'scenario':<8} {'tps':>9} {'lat avg ms':>10} {'failed':>7} {'API orders/s as % of tps':>25}"
    print()
    print(header)
    print("-" * len(header))
    for name in SCENARIOS:
        pg = pgbench.get(name)
        if pg is None:
            print(f"{name:<8} {'not run':>9}")
            continue
        print(
            f"{name:<8} {pg['tps']:>9.0f} {fmt(pg['latency_avg_ms'], '.2f'):>10} {fmt(pg['failed'], 'd'):>7} "
            f"{fmt(ratios[f'{name}_api_pct_of_pgbench'], '.1f', ' %'):>25}"
        )
    print(f"pgbench hot / spread tps:     {fmt(ratios['pgbench_hot_over_spread_pct'], '.1f', ' %'):>9}")
    for name, pg in pgbench.items():
        if pg is not None and pg.get("table_consistent") is False:
            print(f"WARNING pgbench {name}: the scratch table does not match the transactions counted: {pg['table']}")

    print()
    print(f"Verification: {'PASSED' if verification.get('passed') else 'FAILED'}")
    for check in verification.get("checks", []):
        print(f"  [{'OK' if check['ok'] else 'FAIL'}] {check['name']}: {check['detail']}")

    for name, s in summaries.items():
        errors = {kind: count for kind, count in s["total_socket_errors"].items() if count}
        if s["total_non2xx"] or errors:
            print(f"WARNING {name}: statuses {s['total_statuses']}, socket errors {errors or 'none'} (see the gunicorn log)")
    for name, scenario_runs in runs.items():
        for n, run in enumerate(scenario_runs, start=1):
            cpu = run.get("cpu")
            if cpu and cpu["other_cpu_pct"] > OTHER_CPU_WARN_PCT:
                top = ", ".join(f"{p['comm']} (pid {p['pid']}) {p['cpu_s']:.1f} s" for p in cpu["top_others"])
                print(
                    f"WARNING {name} run {n} ({run['rps']:.0f} orders/s): other processes used {cpu['other_cpu_pct']:.0f} % "
                    f"of the machine's CPU meanwhile ({top}): this run is not comparable"
                )
    for name, pg in pgbench.items():
        cpu = (pg or {}).get("cpu")
        if cpu and cpu["other_cpu_pct"] > OTHER_CPU_WARN_PCT:
            print(f"WARNING pgbench {name}: other processes used {cpu['other_cpu_pct']:.0f} % of the machine's CPU meanwhile")


def compute_ratios(summaries: dict[str, dict[str, Any]], pgbench: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    hot, spread = summaries["hot"], summaries["spread"]
    hot_pct = ratio_pct(hot["median_rps"], spread["median_rps"])
    worst_p99 = max(hot["median_p99_ms"], spread["median_p99_ms"])
    ratios: dict[str, Any] = {
        "hot_over_spread_pct": hot_pct,
        "goal_hot_over_spread": None if hot_pct is None else hot_pct >= HOT_OVER_SPREAD_GOAL_PCT,
        "worst_p99_ms": worst_p99,
        "goal_p99": worst_p99 < P99_GOAL_MS,
    }
    for name in SCENARIOS:
        pg = pgbench.get(name)
        ratios[f"{name}_api_pct_of_pgbench"] = ratio_pct(summaries[name]["median_rps"], pg["tps"] if pg else None)
    hot_pg, spread_pg = pgbench.get("hot"), pgbench.get("spread")
    ratios["pgbench_hot_over_spread_pct"] = ratio_pct(hot_pg["tps"] if hot_pg else None, spread_pg["tps"] if spread_pg else None)
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--repeat", type=int, required=True)
    parser.add_argument("--own-pid", type=int, action="append", default=[], help="benchmark process whose children are not 'other'")
    parser.add_argument("--gunicorn-pid", type=int, help="gunicorn's master: it and its workers are the server")
    parser.add_argument("--meta", type=key_value, action="append", default=[], help="KEY=VALUE recorded as is")
    args = parser.parse_args(argv)

    meta: dict[str, Any] = {key: value if key.startswith("git_") else typed(value) for key, value in args.meta}
    own_pids = set(args.own_pid)
    work = args.work_dir
    runs = {name: [read_run(work, name, n, own_pids, args.gunicorn_pid) for n in range(1, args.repeat + 1)] for name in SCENARIOS}
    summaries = {name: summarise_runs(scenario_runs) for name, scenario_runs in runs.items()}
    pgbench = {name: read_pgbench(work, name, own_pids, args.gunicorn_pid) for name in SCENARIOS}
    verify_path = work / "verify.json"
    verification: dict[str, Any] = (
        json.loads(verify_path.read_text()) if verify_path.exists() else {"passed": False, "checks": [], "error": "verify.py wrote nothing"}
    )
    ratios = compute_ratios(summaries, pgbench)

    print_report(meta, summaries, runs, pgbench, verification, ratios)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "orders",
        "meta": meta,
        "goals": {"hot_over_spread_pct_min": HOT_OVER_SPREAD_GOAL_PCT, "p99_ms_max": P99_GOAL_MS, "oversell": 0},
        "scenarios": {name: {"description": SCENARIOS[name], **summaries[name], "runs": runs[name]} for name in SCENARIOS},
        "ratios": ratios,
        "pgbench": pgbench,
        "verification": verification,
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
