"""The Makefile tells the truth: help shows the real port, the worker writes nothing into the repository."""

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts processes

ROOT = Path(__file__).resolve().parents[3]


def make(*args: str, **env: str) -> str:
    return subprocess.run(  # noqa: S603 - make, fixed arguments
        ["make", "--no-print-directory", *args],  # noqa: S607
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_help_shows_the_port_and_no_target_that_does_not_exist():
    text = make("help", PORT="8123")

    assert "$$PORT" not in text
    assert "PORT=8123" in text
    assert "fulfilment" not in text
    for target in ("run", "dev", "serve", "worker", "test", "lint", "fuzz"):
        assert f"make {target} " in text


def test_the_worker_keeps_its_beat_schedule_out_of_the_repository_root():
    command = make("-n", "worker", "VENV=.venv", CELERY_QUEUE="q-test")

    assert "--schedule .run/celerybeat-schedule" in command
    assert '--hostname "q-test@%h"' in command
    assert ".run/" in (ROOT / ".gitignore").read_text().split()


def test_dev_serves_with_auto_reload():
    command = make("-n", "dev", "VENV=.venv", PORT="8124")

    assert "manage.py runserver 127.0.0.1:8124" in command
    assert "--noreload" not in command
