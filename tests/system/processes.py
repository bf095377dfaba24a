"""The API (gunicorn) and the Celery worker as real processes, to load and to kill."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opply.common.testing_workers import CeleryWorkerProcess, session_topology
from tests.system.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]


def app_environment(redis_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a process of the app under test: test settings, the
    suite's PostgreSQL pair (already in ``os.environ``), the given Redis, the
    session's order-events topology on the broker."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PROCESS_ROLE", "DJANGO_SETTINGS_MODULE")}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        TEST_REDIS_URL=redis_url,
        DJANGO_LOG_LEVEL="WARNING",
        **session_topology(),
        **overrides,
    )
    return environment


def _stop(process: subprocess.Popen, grace: float = 15) -> None:  # type: ignore[type-arg]
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def pid_owning_local_port(port: int, candidates: list[int]) -> int | None:
    """Which of ``candidates`` owns the TCP socket bound to local ``port`` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    for pid in candidates:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


@dataclass
class Reply:
    status: int  # 0: no HTTP answer (connection refused, reset, timed out)
    headers: dict[str, str]
    body: Any
    seconds: float

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def label(self) -> str:
        """``"201"``, ``"503 database_busy"``, ``"no answer"``: what a client saw."""
        if self.status == 0:
            return "no answer"
        return f"{self.status} {self.code}" if self.status >= 400 and self.code else str(self.status)


@dataclass
class Gunicorn:
    """``gunicorn -c config/gunicorn.py config.wsgi``, as ``make serve`` runs it."""

    redis_url: str
    workers: int = 2
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None  # type: ignore[type-arg]
    log: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="opply-gunicorn-", suffix=".log")[1]))

    def start(self) -> Gunicorn:
        environment = app_environment(
            self.redis_url,
            HOST="127.0.0.1",
            PORT=str(self.port),
            WEB_CONCURRENCY=str(self.workers),
            GUNICORN_THREADS="1",
            GUNICORN_ACCESSLOG="",
            **self.env,
        )
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-3000:]}")
            if self.call("GET", "/health/live/", timeout=2).status == 200 and len(self.worker_pids()) == self.workers:
                return self
            time.sleep(0.2)
        raise TimeoutError(f"gunicorn did not come up: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
        self.log.unlink(missing_ok=True)

    def worker_pids(self) -> list[int]:
        return children_of(self.process.pid) if self.process is not None else []

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 20,
    ) -> Reply:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Reply(0, {}, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
        finally:
            connection.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, parsed, time.monotonic() - started)


class CeleryWorker(CeleryWorkerProcess):
    """``celery -A config worker --beat`` on a queue of its own, as ``make worker`` runs it."""

    def __init__(self, redis_url: str, sweep_seconds: float = 0.5) -> None:
        # No fulfilment consumer: these workers sweep carts (sync mode).
        environment = app_environment(redis_url, CART_SWEEP_SECONDS=str(sweep_seconds), FULFILMENT_CONSUMER="false")
        super().__init__(environment, beat=True, prefix="opply-system")

    def cleanup(self) -> None:
        """Stop, and remove the worker's files and its queue from the broker."""
        self.stop()
