"""Helpers for the test suites (imported by tests only)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
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


def raw_connection(alias: str = "default", **kwargs: Any) -> psycopg.Connection:
    """A psycopg connection of its own to the database behind ``alias``
    (another session: its locks really block the application's)."""
    config = connections[alias].settings_dict
    params = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
        "dbname": config["NAME"],
        "connect_timeout": 5,
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v is not None}, **kwargs)


@contextmanager
def table_locked(*tables: str, mode: str = "ACCESS EXCLUSIVE", release_after: float = 20.0) -> Iterator[psycopg.Connection]:
    """Hold ``LOCK TABLE`` on ``tables`` from another session until the block
    ends, or at the latest after ``release_after`` seconds (so that code
    without lock timeouts is shown to hang, not left hanging forever)."""
    locker = raw_connection()
    locker.execute(f"LOCK TABLE {', '.join(tables)} IN {mode} MODE")
    timer = threading.Timer(release_after, locker.rollback)
    timer.start()
    try:
        yield locker
    finally:
        timer.cancel()
        locker.rollback()
        locker.close()


def backend_pid(alias: str = "default") -> int:
    """The PostgreSQL backend serving this thread's connection to ``alias``."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate_backend(pid: int) -> None:
    """``pg_terminate_backend``: the server drops that connection, as in a
    failover or a restart (only ever a backend of the test's own database)."""
    with raw_connection(autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %s AND datname = current_database()", [pid])
