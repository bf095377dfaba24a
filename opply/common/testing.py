"""Helpers for the test suites (imported by tests only)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connections
from rest_framework.test import APIClient


def bearer_client(user) -> APIClient:  # type: ignore[no-untyped-def]
    from opply.identity.tokens import IssuedRefreshToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {IssuedRefreshToken.for_user(user).access_token}")
    return client


def assert_problem(response, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    """The response is a problem-details error with this status (and code)."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code"} <= body.keys()
    if code is not None:
        assert body["code"] == code, body
    return body


# PostgreSQL allows 100 connections here; each thread holds up to two.
MAX_THREADS = 24


def run_concurrently(count: int, task: Callable[[int], Any], *, threads: int = MAX_THREADS) -> list[Any]:
    """Run ``task(i)`` for i in range(count) on real threads released together.

    Each thread uses its own database connections (closed when it is done),
    so the calls really race against each other in PostgreSQL and Redis.
    """
    start = threading.Event()

    def wrapped(i: int) -> Any:
        start.wait()
        try:
            return task(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=min(threads, count)) as pool:
        futures = [pool.submit(wrapped, i) for i in range(count)]
        start.set()
        return [future.result() for future in futures]
