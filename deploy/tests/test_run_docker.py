"""scripts/run-docker.sh (make run-docker / stop-docker), with a stand-in `docker` that records its calls.

Docker itself cannot run here; what the script decides can: the secrets file,
the compose command line, the addresses it prints, and its refusal without
Compose v2.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from deploy.compose_check import generated_secrets

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "run-docker.sh"

FAKE_DOCKER = """#!/bin/sh
if [ "$1 $2" = "compose version" ]; then
  [ -n "$NO_COMPOSE" ] && exit 1
  echo "Docker Compose version v2.29.7"
  exit 0
fi
echo "$@" >> "$DOCKER_CALLS"
"""


@pytest.fixture
def machine(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    env_file = tmp_path / ".env.compose"
    calls = tmp_path / "calls"

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "OPPLY_COMPOSE_ENV_FILE": str(env_file),
            "DOCKER_CALLS": str(calls),
            **extra,
        }
        return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)  # noqa: S603, S607

    run.env_file = env_file  # type: ignore[attr-defined]
    run.calls = calls  # type: ignore[attr-defined]
    return run


def secrets_in(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_up_generates_every_secret_once_and_starts_the_stack(machine):
    result = machine("up")

    assert result.returncode == 0, result.stderr
    secrets = secrets_in(machine.env_file)
    assert sorted(secrets) == sorted(generated_secrets())
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in secrets.values())
    assert len(set(secrets.values())) == len(secrets)
    assert stat.S_IMODE(machine.env_file.stat().st_mode) == 0o600
    assert machine.calls.read_text().split() == [
        "compose", "--env-file", str(machine.env_file), "-f", "compose.yaml",
        "up", "--build", "--detach", "--wait", "--wait-timeout", "600",
    ]  # fmt: skip
    for address in ("http://localhost:8080/api/", "http://localhost:8080/api/docs/", "http://localhost:8080/admin/"):
        assert address in result.stdout

    machine("up", OPPLY_HTTP_PORT="9090")
    assert secrets_in(machine.env_file) == secrets, "the databases keep the passwords they were created with"


def test_debug_adds_the_loopback_ports_and_the_port_is_printed(machine):
    result = machine("up", DEBUG="1", OPPLY_HTTP_PORT="9090")

    assert "-f compose.yaml -f compose.debug.yaml up" in machine.calls.read_text()
    assert "http://localhost:9090/api/" in result.stdout


def test_observability_adds_the_profile_and_prints_grafana_and_prometheus(machine):
    result = machine("up", OBSERVABILITY="1")

    assert "-f compose.yaml --profile observability up" in machine.calls.read_text()
    assert "http://127.0.0.1:3000/" in result.stdout
    assert "http://127.0.0.1:9090/" in result.stdout


def test_without_observability_the_stack_stays_light(machine):
    result = machine("up")

    assert "--profile" not in machine.calls.read_text()
    assert "Grafana" not in result.stdout


def test_a_secrets_file_from_before_gains_the_new_secrets_and_keeps_the_old(machine):
    machine.env_file.write_text("# old\nDJANGO_SECRET_KEY=kept\n")
    machine.env_file.chmod(0o600)

    assert machine("up").returncode == 0

    secrets = secrets_in(machine.env_file)
    assert secrets["DJANGO_SECRET_KEY"] == "kept"
    assert sorted(secrets) == sorted(generated_secrets())


def test_down_keeps_the_data_and_wipe_deletes_it(machine):
    machine("up")
    machine.calls.unlink()

    assert machine("down").returncode == 0
    assert machine.calls.read_text().split()[-4:] == ["--profile", "observability", "down", "--remove-orphans"]
    assert machine.env_file.exists()

    assert machine("wipe").returncode == 0
    assert machine.calls.read_text().splitlines()[-1].split()[-3:] == ["down", "--remove-orphans", "--volumes"]
    assert not machine.env_file.exists()


def test_without_compose_v2_it_says_so_and_creates_nothing(machine):
    result = machine("up", NO_COMPOSE="1")

    assert result.returncode == 1
    assert "Compose v2" in result.stderr
    assert not machine.env_file.exists()
    assert not os.path.exists(machine.calls)
