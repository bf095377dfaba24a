"""Each kind of process connects with its own lock and statement timeouts
(opply/common/db/timeouts.py): requests short, the worker longer, manage.py
commands (migrate) without a statement limit. Checked in real processes
started the way production starts them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]

SHOW = (
    "from django.db import connection; c = connection.cursor(); "
    "c.execute('SHOW lock_timeout'); lock = c.fetchone()[0]; "
    "c.execute('SHOW statement_timeout'); print(lock, c.fetchone()[0])"
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def timeouts_of(*command: str, **env: str) -> list[str]:
    db = connection.settings_dict
    environment = {k: v for k, v in os.environ.items() if k != "PROCESS_ROLE" and not k.startswith("DATABASE_")}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        **env,
    )
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-2:]


def test_requests_get_short_timeouts():
    assert timeouts_of(sys.executable, "-c", f"import config.wsgi; {SHOW}") == ["2s", "5s"]


def test_manage_py_commands_such_as_migrate_get_no_statement_limit():
    assert timeouts_of(sys.executable, "manage.py", "shell", "-c", SHOW) == ["10s", "0"]


def test_a_started_celery_worker_switches_to_the_worker_timeouts():
    code = f"import django; django.setup(); from celery.signals import worker_init; worker_init.send(sender=None); {SHOW}"
    assert timeouts_of(sys.executable, "-c", code) == ["10s", "2min"]


def test_timeouts_are_configurable():
    code = f"import config.wsgi; {SHOW}"
    assert timeouts_of(sys.executable, "-c", code, DATABASE_LOCK_TIMEOUT_MS="750", DATABASE_STATEMENT_TIMEOUT_MS="3000") == ["750ms", "3s"]


def test_an_unknown_role_refuses_to_start():
    environment = {**os.environ, "PROCESS_ROLE": "webb", "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    command = [sys.executable, "-c", "import django; django.setup()"]
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)  # noqa: S603

    assert result.returncode != 0
    assert "PROCESS_ROLE" in result.stderr
