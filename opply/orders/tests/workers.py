"""Real Celery worker processes for the fulfilment tests (on this session's queues)."""

from __future__ import annotations

from typing import Any

from opply.common.testing_workers import CeleryWorkerProcess, process_environment


class Worker(CeleryWorkerProcess):
    """A worker running the fulfilment consumer, on the test database and Redis.

    It consumes this test session's fulfilment queue (settings.FULFILMENT_QUEUE,
    conftest) and a task queue of its own. ``env`` overrides settings through
    the environment (batch size, retries, a proxied DATABASE_URL...).
    """

    def __init__(self, *, beat: bool = False, **env: Any) -> None:
        environment = {
            **process_environment(),
            "ORDER_FULFILMENT": "async",
            "FULFILMENT_RETRY_BASE_SECONDS": "0.2",
            **{key: str(value) for key, value in env.items()},
        }
        super().__init__(environment, beat=beat)

    def wait_until_consuming(self, timeout: float = 45) -> None:
        self.wait_for(lambda: "fulfilment consumer on" in self.output(), timeout=timeout, what="the consumer to start")
