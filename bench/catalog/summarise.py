"""Summarise a catalog benchmark run: medians per scenario, then the ratios.

Reads the raw wrk outputs that ``bench/catalog/run.sh`` saved (one file per
scenario and repeat, each with a ``WRK_RESULT {...}`` line printed by
``bench/common/wrk_report.lua``) and, when present, the CPU snapshots taken
around each run (``bench/common/cpu_snapshot.py``); prints a table and writes
every figure, raw runs included, to a JSON file. Standard library only.

Usage (run.sh does this)::

    summarise.py --raw-dir DIR --out FILE --repeat 3 \
        --scenario health-live=/health/live/ --scenario first-page=/api/catalog/products/ ... \
        [--cold first-page=/api/catalog/products/=12.3 ...] [--own-pid PID ...] [--meta key=value ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.common.results import key_value, marker, typed

MARKER = "WRK_RESULT"
MEDIAN_FIELDS = ("rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms")
# Errors are summed over the repeats, not medianed: one bad run must show.
SUM_FIELDS = ("requests", "non2xx")
SOCKET_ERRORS = ("connect", "read", "write", "timeout")

# The scenarios the ratios are about (names given by run.sh).
HEALTH, FIRST, DEEP, FILTERED, LONGTAIL = "health-live", "first-page", "deep-page", "filtered", "longtail"
CACHE_MARKER = "WRK_CACHE"
CHURN_MARKER = "CHURN"
CHURN, CHURN_QUIET = "churn", "churn-quiet"

# Services the benchmark drives: their CPU is part of the measurement, not
# interference (even though other clients may use them too).
SERVICES = {"postgres", "redis-server"}
# A run during which other processes used more than this share of the
# machine's CPU is flagged: its figures are not comparable.
OTHER_CPU_WARN_PCT = 5.0


def other_cpu(before: dict[str, Any], after: dict[str, Any], own_pids: set[int]) -> dict[str, Any]:
    """CPU used during a run by processes outside the benchmark.

    Outside means: not one of ``own_pids`` (this script, gunicorn's master) or
    their children (gunicorn workers, wrk), not PostgreSQL or Redis, not a
    kernel thread. A process that started during the run counts in full; one
    that both started and ended during the run is missed.
    """
    clock = after["clock_ticks"]
    busy = after["machine"]["busy"] - before["machine"]["busy"]
    idle = after["machine"]["idle"] - before["machine"]["idle"]
    total = max(busy + idle, 1)
    others: list[tuple[int, str, str]] = []
    for pid, proc in after["processes"].items():
        if int(pid) in own_pids or proc["ppid"] in own_pids or proc["comm"] in SERVICES or pid == "2" or proc["ppid"] == 2:
            continue
        previous = before["processes"].get(pid)
        ticks = proc["ticks"] - previous["ticks"] if previous and previous["comm"] == proc["comm"] else proc["ticks"]
        if ticks > 0:
            others.append((ticks, pid, proc["comm"]))
    others.sort(reverse=True)
    return {
        "machine_idle_pct": 100 * idle / total,
        "other_cpu_pct": 100 * sum(ticks for ticks, _, _ in others) / total,
        "top_others": [{"pid": int(pid), "comm": comm, "cpu_s": ticks / clock} for ticks, pid, comm in others[:3]],
    }


def read_run(raw_dir: Path, name: str, n: int, own_pids: set[int]) -> dict[str, Any]:
    out = raw_dir / f"{name}.{n}.out"
    run = marker(out, MARKER)
    text = out.read_text()
    if CACHE_MARKER in text:  # many-URL scenarios count the list's X-Cache answers
        run["cache"] = marker(out, CACHE_MARKER)
    if f"\n{CHURN_MARKER} " in text:  # the churn scenario: flips made meanwhile
        run["churn"] = marker(out, CHURN_MARKER)
    before, after = raw_dir / f"{name}.{n}.cpu-before.json", raw_dir / f"{name}.{n}.cpu-after.json"
    if before.exists() and after.exists():
        run["cpu"] = other_cpu(json.loads(before.read_text()), json.loads(after.read_text()), own_pids)
    return run


def summarise_scenario(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {f"median_{field}": statistics.median(run[field] for run in runs) for field in MEDIAN_FIELDS}
    summary["min_rps"] = min(run["rps"] for run in runs)
    summary["max_rps"] = max(run["rps"] for run in runs)
    for field in SUM_FIELDS:
        summary[f"total_{field}"] = sum(run[field] for run in runs)
    summary["total_socket_errors"] = {kind: sum(run["socket_errors"][kind] for run in runs) for kind in SOCKET_ERRORS}
    statuses: dict[str, int] = {}
    for run in runs:
        for code, count in run["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    summary["total_statuses"] = dict(sorted(statuses.items()))
    cpu = [run["cpu"] for run in runs if "cpu" in run]
    summary["max_other_cpu_pct"] = max((c["other_cpu_pct"] for c in cpu), default=None)
    caches = [run["cache"] for run in runs if "cache" in run]
    if caches:
        hits, misses = sum(c["hit"] for c in caches), sum(c["miss"] for c in caches)
        summary["cache"] = {"hit": hits, "miss": misses, "other": sum(c["other"] for c in caches)}
        summary["hit_ratio"] = hits / (hits + misses) if hits + misses else None
    churns = [run["churn"] for run in runs if "churn" in run]
    if churns:
        summary["churn"] = {"flips": sum(c["flips"] for c in churns), "errors": sum(c["errors"] for c in churns)}
    return summary


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def compute_ratios(summaries: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    def median(name: str, field: str) -> float | None:
        return summaries[name][f"median_{field}"] if name in summaries else None

    first_vs_health = ratio(median(FIRST, "rps"), median(HEALTH, "rps"))
    longtail_vs_first = ratio(median(LONGTAIL, "rps"), median(FIRST, "rps"))
    return {
        "longtail_rps_pct_of_first_page": None if longtail_vs_first is None else 100 * longtail_vs_first,
        "churn_p95_over_quiet_p95": ratio(median(CHURN, "p95_ms"), median(CHURN_QUIET, "p95_ms")),
        "first_page_rps_pct_of_health_live": None if first_vs_health is None else 100 * first_vs_health,
        "deep_page_p50_over_first_page_p50": ratio(median(DEEP, "p50_ms"), median(FIRST, "p50_ms")),
        "filtered_p50_over_first_page_p50": ratio(median(FILTERED, "p50_ms"), median(FIRST, "p50_ms")),
    }


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} %"


def print_report(
    meta: dict[str, Any], scenarios: dict[str, str], summaries: dict[str, dict[str, Any]], ratios: dict[str, float | None]
) -> None:
    cold: dict[str, dict[str, Any]] = meta.get("cold", {})
    print()
    print(
        f"Catalog benchmark: {meta.get('products', '?')} products ({meta.get('listed', '?')} listed to customers), "
        f"{meta.get('workers', '?')} gunicorn sync workers, wrk {meta.get('wrk_threads', '?')} threads x "
        f"{meta.get('connections', '?')} connections, {meta.get('duration_s', '?')} s per run after a "
        f"{meta.get('warmup_s', '?')} s warm-up, {meta.get('repeat', '?')} runs per scenario"
    )
    print("  req/s, p50, p99: median of the runs (cached pages: wrk repeats one URL); req/s range: slowest..fastest run")
    print("  non-2xx, socket err: summed over the runs")
    print("  other CPU: the largest share of the machine's CPU used by processes outside the benchmark during a run")
    print("  hit %: share of the list's answers served from the page cache (many-URL scenarios)")
    header = (
        f"{'scenario':<12} {'req/s':>9} {'req/s range':>13} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
        f"{'socket err':>10} {'other CPU':>9} {'hit %':>6}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name in scenarios:
        s = summaries[name]
        socket_errors = sum(s["total_socket_errors"].values())
        rps_range = f"{s['min_rps']:.0f}..{s['max_rps']:.0f}"
        hit_ratio = s.get("hit_ratio")
        print(
            f"{name:<12} {s['median_rps']:>9.1f} {rps_range:>13} {s['median_p50_ms']:>8.2f} {s['median_p95_ms']:>8.2f} "
            f"{s['median_p99_ms']:>8.2f} {s['total_non2xx']:>8d} {socket_errors:>10d} {fmt_pct(s['max_other_cpu_pct']):>9} "
            f"{fmt(None if hit_ratio is None else 100 * hit_ratio, '.1f'):>6}"
        )
    print()
    for name, url in scenarios.items():
        print(f"  {name:<12} GET {url}")
    print()
    if cold:
        print("Cold single requests (page cache dropped before each, no load; median, curl):")
        for name, entry in cold.items():
            print(f"  {name:<18} {entry['ms']:>8.1f} ms  GET {entry['path']}")
        print()
    print(f"first page req/s as % of health-live req/s: {fmt(ratios['first_page_rps_pct_of_health_live'], '.1f')} %")
    print(f"long-tail req/s as % of first page req/s:   {fmt(ratios['longtail_rps_pct_of_first_page'], '.1f')} %")
    if CHURN in summaries:
        churn = summaries[CHURN]
        flips = churn.get("churn", {})
        print(
            f"churn: {flips.get('flips', '?')} stock flips ({flips.get('errors', '?')} failed) over the churn runs; "
            f"hit ratio {fmt_pct(100 * churn['hit_ratio'] if churn.get('hit_ratio') is not None else None)} "
            f"(quiet: {fmt_pct(100 * summaries[CHURN_QUIET]['hit_ratio'] if summaries.get(CHURN_QUIET, {}).get('hit_ratio') is not None else None)}); "
            f"p95 churn / quiet: {fmt(ratios['churn_p95_over_quiet_p95'], '.2f')}"
        )
    print(f"deep-page p50 / first-page p50:             {fmt(ratios['deep_page_p50_over_first_page_p50'], '.2f')}")
    print(f"filtered p50 / first-page p50:              {fmt(ratios['filtered_p50_over_first_page_p50'], '.2f')}")
    for name, s in summaries.items():
        errors = {kind: count for kind, count in s["total_socket_errors"].items() if count}
        if s["total_non2xx"] or errors:
            print(f"WARNING {name}: statuses {s['total_statuses']}, socket errors {errors or 'none'}")


def print_interference(runs: dict[str, list[dict[str, Any]]]) -> None:
    for name, scenario_runs in runs.items():
        for n, run in enumerate(scenario_runs, start=1):
            cpu = run.get("cpu")
            if cpu and cpu["other_cpu_pct"] > OTHER_CPU_WARN_PCT:
                top = ", ".join(f"{p['comm']} (pid {p['pid']}) {p['cpu_s']:.1f} s" for p in cpu["top_others"])
                print(
                    f"WARNING {name} run {n} ({run['rps']:.0f} req/s): other processes used {cpu['other_cpu_pct']:.0f} % "
                    f"of the machine's CPU meanwhile ({top}): this run is not comparable"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, required=True, help="directory of <scenario>.<n>.out wrk outputs")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--repeat", type=int, required=True)
    parser.add_argument("--scenario", type=key_value, action="append", required=True, help="NAME=URL, in display order")
    parser.add_argument("--cold", action="append", default=[], help="NAME=PATH=MS: one request with nothing cached (median of a few)")
    parser.add_argument("--own-pid", type=int, action="append", default=[], help="benchmark process whose children are not 'other'")
    parser.add_argument("--meta", type=key_value, action="append", default=[], help="KEY=VALUE recorded as is")
    args = parser.parse_args(argv)

    scenarios = dict(args.scenario)
    # git_* values stay strings: a short commit hash can be all digits.
    meta: dict[str, Any] = {key: value if key.startswith("git_") else typed(value) for key, value in args.meta}
    meta["cold"] = {}
    for entry in args.cold:
        name, rest = entry.split("=", 1)
        path, ms = rest.rsplit("=", 1)
        meta["cold"][name] = {"path": path, "ms": float(ms)}
    own_pids = set(args.own_pid)
    runs = {name: [read_run(args.raw_dir, name, n, own_pids) for n in range(1, args.repeat + 1)] for name in scenarios}
    summaries = {name: summarise_scenario(scenario_runs) for name, scenario_runs in runs.items()}
    ratios = compute_ratios(summaries)

    print_report(meta, scenarios, summaries, ratios)
    print_interference(runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "catalog",
        "meta": meta,
        "scenarios": {name: {"url": url, **summaries[name], "runs": runs[name]} for name, url in scenarios.items()},
        "ratios": ratios,
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
