"""Real Celery worker processes for the fulfilment tests (on this session's queues)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]


class Worker:
    """``celery -A config worker`` in a process of its own, on the test database and Redis.

    It consumes this test session's fulfilment queue (settings.FULFILMENT_QUEUE,
    conftest) and a task queue of its own. ``env`` overrides settings through
    the environment (batch size, retries, a proxied DATABASE_URL...).
    """

    def __init__(self, *, beat: bool = False, **env: Any) -> None:
        self.beat = beat
        self.env = {key: str(value) for key, value in env.items()}
        self.process: subprocess.Popen[str] | None = None
        self.log = Path(tempfile.mkstemp(prefix="fulfilment-worker-", suffix=".log")[1])
        self.queue = f"opply-test-{uuid.uuid4().hex[:8]}"

    def start(self) -> Worker:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "TEST_REDIS_URL": settings.REDIS_URL,
            "CELERY_QUEUE": self.queue,
            "ORDER_EVENTS_EXCHANGE": settings.ORDER_EVENTS_EXCHANGE,
            "FULFILMENT_QUEUE": settings.FULFILMENT_QUEUE,
            "ORDER_FULFILMENT": "async",
            "FULFILMENT_RETRY_BASE_SECONDS": "0.2",
            **self.env,
        }
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--hostname", f"{self.queue}@%h", "--loglevel", "INFO"]
        command += ["--concurrency", "1"]
        if self.beat:
            command += ["--beat", "--schedule", str(self.log.with_suffix(".beat"))]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True
            )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acks (a crash, the OOM killer)."""
        assert self.process is not None
        # The whole process group: the main process and its pool's children.
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self._stop()
        self.log.unlink(missing_ok=True)
        self.log.with_suffix(".beat").unlink(missing_ok=True)

    def _stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def wait_for(self, condition: Callable[[], bool], *, timeout: float = 60, what: str = "the condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            assert self.process is not None
            assert self.process.poll() is None, f"the worker died:\n{self.output()[-4000:]}"
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; worker log:\n{self.output()[-4000:]}")

    def wait_until_consuming(self, timeout: float = 45) -> None:
        self.wait_for(lambda: "fulfilment consumer on" in self.output(), timeout=timeout, what="the consumer to start")

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
