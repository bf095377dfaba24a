"""Settings for the deployments: the demo stack (compose) and Amazon ECS."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command

from opply.common.tests.test_settings import run_python
from opply.identity.models import User

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "x" * 60,
    "DJANGO_ALLOWED_HOSTS": "api.example.com",
}


def settings_values(expression: str, **env: str) -> list[str]:
    result = run_python("-c", f"import django; django.setup(); from django.conf import settings as s; print({expression})", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_demo_is_production_over_plain_http():
    values = settings_values(
        "s.ENVIRONMENT, s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.STORAGES['staticfiles']['BACKEND'], s.LOGGING['handlers']['console']['formatter']",
        **{**PRODUCTION, "DJANGO_SETTINGS_MODULE": "config.settings.demo"},
    )

    assert values == ["demo", "False", "False", "0", "False", "False", "whitenoise.storage.CompressedManifestStaticFilesStorage", "json"]


def test_demo_refuses_to_start_without_a_secret_key():
    result = run_python("manage.py", "check", DJANGO_SETTINGS_MODULE="config.settings.demo", DJANGO_ALLOWED_HOSTS="localhost")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.django_db
def test_seed_runs_in_the_demo_environment(settings):
    settings.ENVIRONMENT = "demo"

    call_command("seed")

    assert User.objects.get(username="opply").is_staff


class _Metadata(BaseHTTPRequestHandler):
    body = json.dumps({"Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.1.23"]}]}).encode()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def ecs_metadata_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v4/task-container-id"
    server.shutdown()
    server.server_close()


def test_on_ecs_the_tasks_private_ip_is_an_allowed_host(ecs_metadata_url):
    """The ALB health-checks a Fargate task with its IP as Host: refused, the task would never be healthy."""
    values = settings_values("s.ALLOWED_HOSTS", **PRODUCTION, ECS_CONTAINER_METADATA_URI_V4=ecs_metadata_url)

    assert values == ["['api.example.com',", "'10.0.1.23']"]


def test_outside_ecs_allowed_hosts_are_only_the_configured_ones():
    assert settings_values("s.ALLOWED_HOSTS", **PRODUCTION) == ["['api.example.com']"]


def test_unreachable_ecs_metadata_adds_nothing_and_says_why():
    result = run_python(
        "-c",
        "import django; django.setup(); from django.conf import settings as s; print(s.ALLOWED_HOSTS)",
        **PRODUCTION,
        ECS_CONTAINER_METADATA_URI_V4="http://127.0.0.1:9/v4/unreachable",
    )

    assert result.stdout.split() == ["['api.example.com']"], result.stderr
    assert "ECS task metadata unavailable" in result.stderr
