"""Metrics across real processes: gunicorn workers and a Celery prefork worker.

Each process writes its values to the multiprocess directory; a scrape adds
them up. These tests run the real servers (gunicorn with the project's
config, ``celery -A config worker``) and read what they export.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deploy.ports import free_port
from opply.catalog.tests.factories import make_product
from opply.common.testing_workers import CeleryWorkerProcess, process_environment
from opply.orders.tests.helpers import available
from opply.orders.tests.test_cart import add, expire_cart

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, databases=["default", "replica"])]

ROOT = Path(__file__).resolve().parents[3]
HEALTH_LIVE = re.compile(r'^opply_http_requests_total\{method="GET",route="health-live",status="200"\} (\S+)$', re.MULTILINE)


def _environment(**extra: str) -> dict[str, str]:
    env = process_environment()
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback URLs built here
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_until(condition, seconds: float, process: subprocess.Popen, what: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server died while waiting for {what}"
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Gunicorn:
    def __init__(self, log: Path, **environment: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = _environment(HOST="127.0.0.1", PORT=str(self.port), WEB_CONCURRENCY="2", GUNICORN_ACCESSLOG="/dev/null", **environment)
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        _wait_until(lambda: _get(f"{self.base}/health/live/")[0] == 200, 60, self.process, "gunicorn to answer")
        # The probe above was a request too: start counting from what the scrape says.

    def health_live_count(self) -> float:
        status, text = _get(f"{self.base}/metrics")
        assert status == 200, text
        match = HEALTH_LIVE.search(text)
        return float(match.group(1)) if match else 0.0

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _worker_pids(directory: Path) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("gauge_livemax_*.db")}


def test_gunicorn_workers_add_up_dead_workers_are_marked_and_each_start_is_fresh(tmp_path):
    directory = tmp_path / "metrics"
    server = Gunicorn(tmp_path / "gunicorn-1.log", PROMETHEUS_MULTIPROC_DIR=str(directory))
    try:
        before = server.health_live_count()
        for _ in range(12):
            assert _get(f"{server.base}/health/live/")[0] == 200
        assert server.health_live_count() == before + 12  # whichever worker answered each one

        pids = _worker_pids(directory)
        assert len(pids) == 2, sorted(directory.iterdir())
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)  # a worker of this test's own gunicorn
        # The master replaces it and marks it dead: its live gauges go, its counts stay.
        _wait_until(lambda: victim not in _worker_pids(directory) and len(_worker_pids(directory)) == 2, 30, server.process, "a new worker")
        assert (directory / f"counter_{victim}.db").exists()
        assert server.health_live_count() == before + 12
    finally:
        server.stop()

    # A new start with the same directory starts from nothing.
    server = Gunicorn(tmp_path / "gunicorn-2.log", PROMETHEUS_MULTIPROC_DIR=str(directory))
    try:
        assert not (directory / f"counter_{victim}.db").exists()
        before = server.health_live_count()
        assert before <= 2  # only the start-up probes of this run
        for _ in range(3):
            _get(f"{server.base}/health/live/")
        assert server.health_live_count() == before + 3
    finally:
        server.stop()


def test_without_a_directory_gunicorn_makes_its_own_and_removes_it(tmp_path):
    log = tmp_path / "gunicorn.log"
    server = Gunicorn(log)
    try:
        match = re.search(r"metrics directory: (\S+)", log.read_text())
        assert match, log.read_text()
        made = Path(match.group(1))
        assert made.is_dir() and any(made.glob("counter_*.db"))
        assert server.health_live_count() >= 1
    finally:
        server.stop()
    assert not made.exists()


@pytest.fixture
def metrics_worker(tmp_path):
    port = free_port()
    environment = _environment(
        CART_SWEEP_SECONDS="0.5",
        CELERY_METRICS_PORT=str(port),
        CELERY_METRICS_ADDR="127.0.0.1",
        # Loopback is not in the list: only the token opens the exporter here.
        METRICS_ALLOWED_NETWORKS="10.0.0.0/8",
        METRICS_BEARER_TOKEN="worker-metrics-token",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "worker-metrics"),
    )
    with CeleryWorkerProcess(environment, beat=True, concurrency=2) as worker:
        yield worker.process, f"http://127.0.0.1:{port}/metrics"


def test_a_prefork_worker_exports_its_tasks_and_the_sweepers_work(metrics_worker, customer_client, customer):
    process, url = metrics_worker
    product = make_product(quantity=10)
    add(customer_client, product, 4)
    expire_cart(customer)

    _wait_until(lambda: available(product) == 10, 60, process, "the sweeper")

    token = {"Authorization": "Bearer worker-metrics-token"}

    def swept() -> bool:
        status, text = _get(url, token)
        return status == 200 and 'opply_sweeper_units_released_total{holder="cart"} 4.0' in text

    _wait_until(swept, 20, process, "the worker's metrics")
    _, text = _get(url, token)
    assert 'opply_sweeper_holds_released_total{holder="cart"} 1.0' in text
    succeeded = re.search(
        r'^opply_celery_tasks_total\{outcome="succeeded",task="opply.catalog.tasks.release_expired_holds"\} (\S+)$', text, re.MULTILINE
    )
    assert succeeded and float(succeeded.group(1)) >= 1, text
    assert 'opply_celery_task_duration_seconds_count{task="opply.catalog.tasks.release_expired_holds"}' in text
    last_run = float(re.search(r"^opply_sweeper_last_run_timestamp_seconds (\S+)$", text, re.MULTILINE).group(1))
    assert time.time() - last_run < 30

    # Not from outside the allowed networks without the token.
    status, body = _get(url)
    assert status == 403 and "opply_" not in body
    assert _get(url, {"Authorization": "Bearer wrong"})[0] == 403
