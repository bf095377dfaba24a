"""Production settings: no default secret, and ``check --deploy`` is clean."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_python(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    environment.update(env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)  # noqa: S603


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return run_python("manage.py", *args, **env)


@pytest.mark.slow
def test_production_passes_check_deploy():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="a" * 20 + "-production-like-secret-with-enough-entropy-" + "Zq8#x!" * 4,
        DJANGO_ALLOWED_HOSTS="api.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", DJANGO_SETTINGS_MODULE="config.settings.production", DJANGO_ALLOWED_HOSTS="api.example.com")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.slow
def test_production_is_not_in_debug_and_has_hsts():
    result = run_python(
        "-c",
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_HSTS_SECONDS > 0, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x" * 60,
        DJANGO_ALLOWED_HOSTS="api.example.com",
    )

    assert result.stdout.split() == ["False", "True", "True", "True"], result.stderr


@pytest.mark.slow
def test_production_logs_are_json_lines_with_the_request_id():
    result = run_python(
        "-c",
        "import django, logging; django.setup(); from django_guid import set_guid; "
        "set_guid('req-123'); logging.getLogger('opply.probe').warning('hello')",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x" * 60,
        DJANGO_ALLOWED_HOSTS="api.example.com",
    )

    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert (line["message"], line["level"], line["request_id"], line["name"]) == ("hello", "WARNING", "req-123", "opply.probe")


def test_the_suite_runs_under_the_test_settings(settings):
    """Never a developer's settings: those would flush their Redis db and hash passwords slowly."""
    assert settings.ENVIRONMENT == "test"
    assert os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15") == settings.REDIS_URL
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.slow
def test_an_exported_settings_module_does_not_override_the_test_settings():
    for exported in ("config.settings.local", "config.settings.production"):
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::test_the_suite_runs_under_the_test_settings"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": exported, "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "h"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
