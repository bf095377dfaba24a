"""Clients under load: customers that order and check out, and retry as a
well-behaved client does (the same Idempotency-Key after a 503, a 409
``idempotency_in_progress`` or no answer at all, honouring Retry-After).
Every answer is tallied by phase of the fault, for the report."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opply.identity.tests.factories import UserFactory
from opply.identity.tokens import IssuedRefreshToken
from tests.system.processes import Gunicorn, Reply

RETRYABLE_CODES = {"idempotency_in_progress"}


def customers(count: int) -> list[str]:
    """Access tokens of ``count`` new customers."""
    return [str(IssuedRefreshToken.for_user(UserFactory()).access_token) for _ in range(count)]


@dataclass
class Tally:
    """What clients saw, per phase of the fault ("before", "during", "after"...)."""

    phase: str = "before"
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    slowest: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, reply: Reply, what: str) -> None:
        with self._lock:
            self.counts.setdefault(self.phase, Counter())[f"{what} {reply.label}"] += 1
            key = f"{self.phase}: {what}"
            self.slowest[key] = max(self.slowest.get(key, 0.0), round(reply.seconds, 2))

    def total(self, label: str, phase: str | None = None) -> int:
        return sum(
            count for name, counter in self.counts.items() if phase in (None, name) for key, count in counter.items() if key.endswith(label)
        )

    def as_report(self) -> dict[str, Any]:
        return {"statuses": {phase: dict(sorted(counter.items())) for phase, counter in self.counts.items()}, "slowest_s": self.slowest}


def with_retries(send: Callable[[], Reply], tally: Tally, what: str, *, give_up_at: float) -> Reply:
    """Send until the answer is final; retry what a client should retry."""
    while True:
        reply = send()
        tally.add(reply, what)
        retry = reply.status in (0, 503) or reply.code in RETRYABLE_CODES
        if not retry or time.monotonic() >= give_up_at:
            return reply
        time.sleep(min(float(reply.headers.get("retry-after", 0.2)), 1.0) * random.uniform(0.5, 1.0))


@dataclass
class Outcome:
    key: str
    reply: Reply


@dataclass
class OrderLoad:
    """Customers placing direct orders and checking out carts until stopped."""

    api: Gunicorn
    tokens: list[str]
    product_ids: list[str]
    tally: Tally
    checkout_share: float = 0.3
    retry_for: float = 30.0
    pace: float = 0.1  # seconds between a customer's actions
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> OrderLoad:
        for index, token in enumerate(self.tokens):
            thread = threading.Thread(target=self._customer, args=(token, random.Random(index)), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.retry_for + 30)
        return self.outcomes

    def _customer(self, token: str, rng: random.Random) -> None:
        while not self._stop.is_set():
            product = rng.choice(self.product_ids)
            quantity = rng.randint(1, 2)
            key = uuid.uuid4().hex
            give_up_at = time.monotonic() + self.retry_for
            if rng.random() < self.checkout_share:
                added = self.api.call("POST", "/api/orders/cart/items/", token=token, body={"product_id": product, "quantity": quantity})
                self.tally.add(added, "cart add")
                if added.status != 200:
                    time.sleep(self.pace)
                    continue
                reply = with_retries(
                    lambda: self.api.call("POST", "/api/orders/cart/checkout/", token=token, headers={"Idempotency-Key": key}),  # noqa: B023
                    self.tally,
                    "checkout",
                    give_up_at=give_up_at,
                )
                if reply.status != 201:  # the cart may be back (failure) or gone (Redis lost it): start afresh
                    self.api.call("DELETE", "/api/orders/cart/", token=token)
            else:
                body = {"items": [{"product_id": product, "quantity": quantity}]}
                reply = with_retries(
                    lambda: self.api.call("POST", "/api/orders/orders/", token=token, body=body, headers={"Idempotency-Key": key}),  # noqa: B023
                    self.tally,
                    "order",
                    give_up_at=give_up_at,
                )
            self.outcomes.append(Outcome(key, reply))
            time.sleep(self.pace)
