"""A bounded, mixed load on a local API, for the dashboard (bench/observability/run.sh).

Not a benchmark: it does what customers and staff do, at a modest rate, so
that every panel of the dashboard has something true to show. Customers
browse the catalog, fill carts (some abandoned: their time to live runs out
and the sweeper gives the stock back), check out (sometimes retrying with
the same Idempotency-Key), order directly (sometimes more than is in stock),
cancel; staff restock. Loopback only, stops by itself.

    python -m bench.observability.load --base http://127.0.0.1:16301 --seconds 480 --customers 8
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

import requests

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def register(base: str, name: str) -> str:
    """A new customer, logged in: their access token."""
    password = f"load-{uuid.uuid4().hex}"
    response = requests.post(
        f"{base}/api/identity/register/", json={"username": name, "password": password, "email": f"{name}@example.com"}, timeout=10
    )
    response.raise_for_status()
    response = requests.post(f"{base}/api/identity/token/", json={"username": name, "password": password}, timeout=10)
    response.raise_for_status()
    return response.json()["access"]


def staff_token(base: str) -> str:
    response = requests.post(f"{base}/api/identity/token/", json={"username": "opply", "password": "123456"}, timeout=10)
    response.raise_for_status()
    return response.json()["access"]


class Customer(threading.Thread):
    def __init__(self, base: str, token: str, products: list[str], deadline: float, seed: int, tally: Counter) -> None:
        super().__init__(daemon=True)
        self.base, self.products, self.deadline, self.tally = base, products, deadline, tally
        self.random = random.Random(seed)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.orders: list[str] = []

    def call(self, method: str, path: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
        response = self.session.request(method, f"{self.base}{path}", timeout=15, **kwargs)
        self.tally[f"{method} {response.status_code}"] += 1
        return response

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            try:
                self.step()
            except requests.RequestException as exc:
                self.tally[f"error {type(exc).__name__}"] += 1
            time.sleep(self.random.uniform(0.15, 0.5))

    def step(self) -> None:
        r = self.random.random()
        self.call("GET", "/api/catalog/products/")
        if r < 0.15:
            self.call("GET", f"/api/catalog/products/?search={self.random.choice(['oat', 'coffee', 'bean', 'tea'])}")
        product = self.random.choice(self.products)
        if r < 0.35:
            # A cart: sometimes checked out (and the checkout retried), sometimes abandoned.
            self.call("POST", "/api/orders/cart/items/", json={"product_id": product, "quantity": self.random.randint(1, 3)})
            if self.random.random() < 0.5:
                key = uuid.uuid4().hex
                placed = self.call("POST", "/api/orders/cart/checkout/", headers={"Idempotency-Key": key})
                if placed.status_code == 201:
                    self.orders.append(placed.json()["id"])
                    if self.random.random() < 0.2:
                        self.call("POST", "/api/orders/cart/checkout/", headers={"Idempotency-Key": key})
        elif r < 0.7:
            quantity = self.random.randint(1, 2) if self.random.random() < 0.85 else 500  # 500: more than there is
            key = uuid.uuid4().hex
            placed = self.call(
                "POST",
                "/api/orders/orders/",
                json={"items": [{"product_id": product, "quantity": quantity}]},
                headers={"Idempotency-Key": key},
            )
            if placed.status_code == 201:
                self.orders.append(placed.json()["id"])
                if self.random.random() < 0.1:
                    self.call(
                        "POST",
                        "/api/orders/orders/",
                        json={"items": [{"product_id": product, "quantity": quantity}]},
                        headers={"Idempotency-Key": key},
                    )
        elif r < 0.75 and self.orders:
            self.call("POST", f"/api/orders/orders/{self.orders.pop()}/cancel/")
        elif r < 0.8:
            self.call("GET", f"/api/orders/orders/{uuid.uuid4()}/")  # someone else's (or nobody's): 404
        else:
            self.call("GET", "/api/orders/orders/")


def restock(base: str, token: str, products: list[str], deadline: float, tally: Counter) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    while time.monotonic() < deadline:
        for product in products:
            response = session.post(f"{base}/api/catalog/products/{product}/stock/", json={"quantity": 150}, timeout=15)
            tally[f"restock {response.status_code}"] += 1
        time.sleep(45)


def abandon_carts(base: str, tokens: list[str], products: list[str], deadline: float, tally: Counter) -> None:
    """Visitors who fill a cart and leave: each comes back only after its cart
    expired (CART_TTL_SECONDS), so the sweeper is the one to give the stock back."""
    rng = random.Random(99)
    sessions = []
    for token in tokens:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        sessions.append(session)
    n = 0
    while time.monotonic() < deadline:
        session = sessions[n % len(sessions)]
        n += 1
        for product in rng.sample(products, k=rng.randint(1, 3)):
            response = session.post(
                f"{base}/api/orders/cart/items/", json={"product_id": product, "quantity": rng.randint(1, 4)}, timeout=15
            )
            tally[f"abandoned cart {response.status_code}"] += 1
        time.sleep(4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--seconds", type=int, default=480)
    parser.add_argument("--customers", type=int, default=8)
    args = parser.parse_args()
    if urlsplit(args.base).hostname not in LOOPBACK:
        print("the load only ever targets this machine's loopback interface", file=sys.stderr)
        return 2
    staff = staff_token(args.base)
    listing = requests.get(
        f"{args.base}/api/catalog/products/?page_size=100&in_stock=false", headers={"Authorization": f"Bearer {staff}"}, timeout=10
    )
    listing.raise_for_status()
    products = [product["id"] for product in listing.json()["results"]]
    deadline = time.monotonic() + args.seconds
    tally: Counter = Counter()
    run = uuid.uuid4().hex[:6]
    threads: list[threading.Thread] = [
        Customer(args.base, register(args.base, f"load-{run}-{n}"), products, deadline, n, tally) for n in range(args.customers)
    ]
    threads.append(threading.Thread(target=restock, args=(args.base, staff, products, deadline, tally), daemon=True))
    # 16 visitors, one every 4 s: each cart is left alone for about a minute.
    visitors = [register(args.base, f"load-{run}-visitor-{n}") for n in range(16)]
    threads.append(threading.Thread(target=abandon_carts, args=(args.base, visitors, products, deadline, tally), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.seconds + 60)
    print(dict(sorted(tally.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
