"""Real processes for the deployment tests: gunicorn with the app, Debian's nginx in front.

These tests are not part of ``make test`` (pytest's testpaths is ``opply``):
``make test-deploy`` runs them, after installing nginx if it is missing.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy import nginx
from deploy.ports import free_port
from deploy.scratch import scratch_database

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SEED_PASSWORD = "123456"


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"nothing listens on {port} after {seconds} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clean_environment(**overrides: str) -> dict[str, str]:
    """The machine's environment without the developer's Django and database settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "THROTTLE_"))}
    environment.update(overrides)
    return environment


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.fail("nginx is not installed: run scripts/ensure-nginx.sh (make test-deploy does)")
    return binary


@dataclass
class App:
    port: int
    log: Path
    environment: dict[str, str]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[App]:
    """gunicorn with the app under the compose stack's settings, on a database of its own, migrated and seeded."""
    with scratch_database("deploy_test") as database_url:
        port = free_port()
        environment = clean_environment(
            DJANGO_SETTINGS_MODULE="config.settings.demo",
            DJANGO_SECRET_KEY="nginx-test-" + "k" * 50,
            DJANGO_ALLOWED_HOSTS="localhost,127.0.0.1",
            # nginx is the one proxy in front: the last X-Forwarded-For entry is the client.
            DJANGO_NUM_PROXIES="1",
            DATABASE_URL=database_url,
            REDIS_URL=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
            THROTTLE_RATE_LOGIN_IP="4/hour",
            THROTTLE_RATE_LOGIN_USER="1000/min",
            THROTTLE_RATE_ANON="100000/min",
            THROTTLE_RATE_USER="100000/min",
            HOST="127.0.0.1",
            PORT=str(port),
            WEB_CONCURRENCY="2",
        )
        log = tmp_path_factory.mktemp("app") / "gunicorn.log"
        python = str(VENV_BIN / "python")
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"], ["seed"]):
            result = subprocess.run(  # noqa: S603 - our own manage.py
                [python, "manage.py", *command, "--verbosity", "0"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, result.stdout + result.stderr
        with log.open("w") as output:
            process = subprocess.Popen(  # noqa: S603
                [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(port, process, log)
            yield App(port=port, log=log, environment=environment)
        finally:
            stop(process)


@dataclass
class Proxy:
    port: int
    workdir: Path
    config: Path

    def connection(self, source: str = "127.0.0.1", timeout: float = 20) -> http.client.HTTPConnection:
        """A connection to nginx from one of the loopback addresses (127.0.0.0/8): a distinct client IP."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=(source, 0))

    def request(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None, source: str = "127.0.0.1"
    ) -> tuple[http.client.HTTPResponse, bytes]:
        connection = self.connection(source)
        try:
            connection.request(method, path, body=body, headers={"Host": "localhost", **(headers or {})})
            response = connection.getresponse()
            return response, response.read()
        finally:
            connection.close()

    def raw(self, payload: bytes) -> bytes:
        """Send bytes as they are (malformed requests) and return everything nginx answers."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as client:
            client.sendall(payload)
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def render_config(workdir: Path, values: dict[str, str]) -> Path:
    site = workdir / "default.conf"
    site.write_text(nginx.render(values))
    main = workdir / "nginx.conf"
    # As root, nginx's workers drop to an unprivileged user (as in the official image).
    main.write_text(nginx.main_config(workdir, site, user="nobody nogroup" if os.geteuid() == 0 else None))
    return main


@pytest.fixture(scope="session")
def start_proxy(nginx_binary) -> Iterator[Callable[..., Proxy]]:
    """Start nginx with the compose template rendered for a given upstream."""
    processes: list[subprocess.Popen] = []
    workdirs: list[Path] = []

    def start(upstream: str, *, read_timeout: str = "60s") -> Proxy:
        # Not pytest's tmp_path: its parents are private to root, and the workers are not root.
        workdir = Path(tempfile.mkdtemp(prefix="opply-nginx-"))
        workdir.chmod(0o755)
        workdirs.append(workdir)
        port = free_port()
        config = render_config(
            workdir,
            {
                "NGINX_PORT": f"127.0.0.1:{port}",
                "NGINX_UPSTREAM": upstream,
                "NGINX_LOCAL_RESOLVERS": "127.0.0.1",
                "NGINX_CACHE_DIR": str(workdir / "cache"),
                "NGINX_PROXY_READ_TIMEOUT": read_timeout,
            },
        )
        log = workdir / "stdout.log"
        with log.open("w") as output:
            process = subprocess.Popen(  # noqa: S603
                [nginx_binary, "-p", str(workdir), "-c", str(config), "-g", "daemon off;"], stdout=output, stderr=subprocess.STDOUT
            )
        processes.append(process)
        wait_for_port(port, process, log)
        return Proxy(port=port, workdir=workdir, config=config)

    yield start
    for process in processes:
        stop(process)
    for workdir in workdirs:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def proxy(app_server, start_proxy) -> Proxy:
    """nginx in front of the app, as in compose."""
    return start_proxy(f"127.0.0.1:{app_server.port}")
