"""What the metrics cost a cached catalog page, in microseconds (a micro-benchmark).

The catalog benchmark compares whole runs with metrics on and off, and on a
2-core machine its run-to-run spread (10 % and more) is larger than the
difference. This measures the part that differs directly: what the request
middleware and the two Redis timers of a cached first page do per request
(three clock reads, four histogram or counter updates), in gunicorn's
multi-process mode (values written to memory-mapped files), against a
process-local registry for comparison.

    flock -x /tmp/opply-bench.lock .venv/bin/python -m bench.observability.overhead
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

ROUNDS, PER_ROUND = 7, 50_000


def per_request_us(multiprocess: bool) -> float:
    if multiprocess:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="opply-overhead-")
    from time import perf_counter

    from opply.common.observability import metrics

    def one_request() -> None:
        start = perf_counter()
        # auth + throttle pipeline, then the page script (opply.common.redis)
        redis_start = perf_counter()
        metrics.observe_redis("pipeline", perf_counter() - redis_start)
        redis_start = perf_counter()
        metrics.observe_redis("EVALSHA", perf_counter() - redis_start)
        metrics.observe_request("catalog:product-list", "GET", 200, perf_counter() - start)

    rounds = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        for _ in range(PER_ROUND):
            one_request()
        rounds.append((time.perf_counter() - began) / PER_ROUND * 1e6)
    return statistics.median(rounds)


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "both"
    if mode == "both":
        import subprocess

        for child in ("multiprocess", "local"):
            subprocess.run([sys.executable, "-m", "bench.observability.overhead", child], check=True)  # noqa: S603
        return 0
    print(
        f"{mode}: {per_request_us(mode == 'multiprocess'):.2f} us of metrics per cached first-page request (median of {ROUNDS} x {PER_ROUND})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
