"""Sell a popular product out and restock it, again and again, through the API.

The catalog benchmark's churn scenario runs this next to wrk: every
``--every`` seconds a staff stock count sets the product's on-hand stock to 0
(it sells out: it must leave the customer list) or back to ``--restock`` (it
comes back). Unrelated cached pages should not care. Standard library only;
stops after ``--seconds`` or on SIGTERM and prints one line:

    CHURN {"flips": ..., "errors": ...}
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import urllib.error
import urllib.request


def set_stock(base_url: str, token: str, product_id: str, quantity: int) -> bool:
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL, checked in main()
        f"{base_url}/api/catalog/products/{product_id}/stock/",
        data=json.dumps({"quantity": quantity}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URL built by run.sh
            return response.status == 200
    except (urllib.error.URLError, TimeoutError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True, help="a staff access token")
    parser.add_argument("--product", required=True, help="public id of the product")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between flips")
    parser.add_argument("--restock", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    if not args.base_url.startswith("http://127.0.0.1:"):
        parser.error("--base-url must be http://127.0.0.1:PORT (benchmarks stay on loopback)")

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    flips = errors = 0
    deadline = time.monotonic() + args.seconds
    sold_out = False
    while not stopping and time.monotonic() < deadline:
        sold_out = not sold_out
        if set_stock(args.base_url, args.token, args.product, 0 if sold_out else args.restock):
            flips += 1
        else:
            errors += 1
        time.sleep(args.every)
    # Leave the product in stock for whatever runs next.
    if sold_out:
        set_stock(args.base_url, args.token, args.product, args.restock)
    print("CHURN " + json.dumps({"flips": flips, "errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
