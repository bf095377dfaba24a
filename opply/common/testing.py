"""Helpers for the test suites (imported by tests only)."""

from __future__ import annotations

import copy
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from django.db import connections
from django.test import override_settings

from opply.common.redis import reset_redis_client


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


@contextmanager
def replica_at(port: int, *, connect_timeout: int = 1) -> Iterator[None]:
    """Point the ``replica`` alias at ``port`` on this machine (nothing there:
    a refused connection; a socket that never answers: a hanging one), with a
    replica configured, so that the router, the breaker and readiness treat
    it as the real thing. The breaker starts and ends closed."""
    from django.test import override_settings

    from opply.common.db.backend.base import DatabaseWrapper
    from opply.common.db.replica import breaker

    config = copy.deepcopy(connections["default"].settings_dict)
    config["PORT"] = port
    config["OPTIONS"]["connect_timeout"] = connect_timeout
    wrapper = DatabaseWrapper(config, "replica")
    previous = connections["replica"]
    connections["replica"] = wrapper
    breaker.reset()
    try:
        with override_settings(DATABASE_REPLICA_CONFIGURED=True):
            yield
    finally:
        connections["replica"] = previous
        wrapper.close()
        breaker.reset()


def refused_port() -> int:
    """A loopback port where nothing listens (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word: a
    server that hangs, so clients wait for their connect timeout."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


class TcpProxy:
    """A loopback TCP forwarder to ``target_port``, that can be stopped (the
    server behind it is gone: refused connections, live ones cut) and started
    again on the same port. Stands in for a replica that goes away and comes
    back, over real sockets."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or refused_port()
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone
            # would leave the socket listening until accept() returns.
            with suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


# Nothing listens on port 1: connecting is refused at once.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


@contextmanager
def redis_at(url: str) -> Iterator[None]:
    """Point this process's Redis client at ``url`` for the block. The client
    is reset on the way in and, whatever the block raises, on the way out, so
    no later test is left talking to a dead port."""
    reset_redis_client()
    try:
        with override_settings(REDIS_URL=url):
            yield
    finally:
        reset_redis_client()
