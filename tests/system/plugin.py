"""pytest plugin of the system suites: ``pytest -p tests.system.plugin``.

Builds the suites' own PostgreSQL primary and streaming standby (see
cluster.py) *before* Django reads its settings, points ``DATABASE_URL`` and
``DATABASE_REPLICA_URL`` at them, and migrates the database with
``manage.py migrate`` (the maintenance role's timeouts, as in production).
Everything is torn down when the session ends, whether it passed, failed,
was interrupted (Ctrl-C) or terminated (SIGTERM).
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.system.cluster import PgPair

ROOT = Path(__file__).resolve().parents[2]

current: PgPair | None = None


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through pytest: unconfigure and atexit tear down


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]):  # type: ignore[no-untyped-def]
    global current
    started = time.monotonic()
    current = PgPair.create()
    atexit.register(current.destroy)
    signal.signal(signal.SIGTERM, _terminate)
    os.environ["DATABASE_URL"] = current.url()
    os.environ["DATABASE_REPLICA_URL"] = current.replica_url()
    _migrate()
    current.wait_for_replay()
    sys.stderr.write(
        f"system tests: primary on port {current.primary.port}, standby on port {current.standby.port} "
        f"({current.root}), ready in {time.monotonic() - started:.1f}s\n"
    )
    return (yield)


def _migrate() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "PROCESS_ROLE"}
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed: {result.stdout}{result.stderr}")


def pytest_unconfigure(config: pytest.Config) -> None:
    if current is not None:
        current.destroy()
