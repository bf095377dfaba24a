"""A real Celery worker process for the test suites (imported by tests only).

Every suite that needs a worker (the sweeper, the fulfilment consumer, the
worker's metrics, the fault suite) starts it the same way: ``celery -A config
worker`` with a queue and a node name of its own on the shared broker, in a
process group of its own, and it leaves nothing behind: ``stop()`` ends the
process group and deletes the durable queues the worker declared.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def process_environment(**overrides: str) -> dict[str, str]:
    """The environment of a process of the app under test: test settings,
    this test session's database (pytest-django's), Redis db, and order-events
    exchange and fulfilment queue (conftest; deleted when the session ends)."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TEST_REDIS_URL": settings.REDIS_URL,
        **session_topology(),
        **overrides,
    }


def session_topology() -> dict[str, str]:
    """This test session's order-events exchange and fulfilment queue, as
    environment variables: a server or worker the tests start publishes
    there rather than declaring the checkout's own queues on the broker."""
    from django.conf import settings

    return {"ORDER_EVENTS_EXCHANGE": settings.ORDER_EVENTS_EXCHANGE, "FULFILMENT_QUEUE": settings.FULFILMENT_QUEUE}


class CeleryWorkerProcess:
    """``celery -A config worker`` (``--beat`` optionally) in a process group of its own.

    ``environment`` is the process's whole environment (settings module,
    database, Redis...); the worker's ``CELERY_QUEUE`` is added here, a name
    no other worker on the broker uses. Two workers with the same node name
    on one broker fight over their control queue, so the node is named after
    the queue too.
    """

    def __init__(
        self,
        environment: Mapping[str, str],
        *,
        beat: bool = False,
        concurrency: int = 1,
        prefix: str = "opply-test",
        broker_url: str | None = None,
    ) -> None:
        self.queue = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.environment = {**environment, "CELERY_QUEUE": self.queue}
        self.beat = beat
        self.concurrency = concurrency
        self.broker_url = broker_url
        self.directory = Path(tempfile.mkdtemp(prefix="opply-worker-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "worker.log"

    def start(self) -> CeleryWorkerProcess:
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--hostname", f"{self.queue}@%h"]
        command += ["--loglevel", "INFO", "--concurrency", str(self.concurrency)]
        if self.beat:
            command += ["--beat", "--schedule", str(self.directory / "beat")]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                command, cwd=ROOT, env=self.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        # A test that fails before stopping its worker must not leave the
        # process running or its queues on the shared broker.
        atexit.register(self.stop)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (main process, pool, embedded beat):
        no cleanup, no acks, as a crash or the OOM killer would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def terminate(self, grace: float = 20) -> None:
        """SIGTERM (Celery's warm shutdown), SIGKILL the group past ``grace``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        # Whatever outlived the main process (a pool child) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        """Terminate, then remove the worker's files and its queues from the
        broker (also after ``kill()``); twice is harmless."""
        atexit.unregister(self.stop)
        self.terminate()
        if not self.directory.exists():
            return
        # Celery declares a direct exchange named after the task queue too.
        delete_from_broker(self.declared_queues(), exchanges=[self.queue], broker_url=self.broker_url)
        for entry in self.directory.iterdir():
            entry.unlink(missing_ok=True)
        self.directory.rmdir()

    def declared_queues(self) -> list[str]:
        """The durable queues named after this worker: its task queue and,
        unless a FULFILMENT_QUEUE is given (which belongs to whoever gave
        it), the fulfilment queue and dead-letter queue derived from its name
        (declared by its consumer, or by a server sharing its CELERY_QUEUE)."""
        if "FULFILMENT_QUEUE" in self.environment:
            return [self.queue]
        return [self.queue, f"{self.queue}.fulfilment", f"{self.queue}.fulfilment.dead"]

    def wait_for(self, condition: Callable[[], bool], *, timeout: float = 60, what: str = "the condition") -> None:
        """Poll ``condition`` until it holds; fail early, with the log, if the worker died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            assert self.is_running(), f"the worker died:\n{self.output()[-4000:]}"
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; worker log:\n{self.output()[-4000:]}")

    def __enter__(self) -> CeleryWorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def delete_from_broker(queues: Sequence[str], *, exchanges: Sequence[str] = (), broker_url: str | None = None) -> None:
    """Delete these queues and exchanges from the broker (one already gone is fine)."""
    from django.conf import settings
    from kombu import Connection

    with Connection(broker_url or settings.CELERY_BROKER_URL, connect_timeout=5) as connection:
        for kind, name in [*(("queue", n) for n in queues), *(("exchange", n) for n in exchanges)]:
            # A failed delete closes its channel: one channel per entity.
            channel = connection.channel()
            with contextlib.suppress(*connection.channel_errors):
                if kind == "queue":
                    channel.queue_delete(queue=name)
                else:
                    channel.exchange_delete(exchange=name)
            with contextlib.suppress(*connection.channel_errors, *connection.connection_errors):
                channel.close()
