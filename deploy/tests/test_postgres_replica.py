"""compose's PostgreSQL scripts, run for real: a primary, and a hot standby made by pg_basebackup.

The primary cluster is set up as the official image sets one up (initdb, then
``host all all all scram-sha-256`` as the only network rule), then
deploy/postgres/primary-init.sh runs on it as the image would run it. The
standby is made by deploy/postgres/replica-entrypoint.sh, which then starts
the server it is given. Both clusters are this test's own, on spare ports,
run as the postgres OS user (the shared server on 5432 refuses replication).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from deploy.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "postgres"
BIN = Path("/usr/lib/postgresql/15/bin")
BASH = shutil.which("bash") or "/bin/bash"
APP_PASSWORD = "app-" + "p" * 20
REPLICATION_PASSWORD = "replication-" + "r" * 20


def as_postgres(**kwargs) -> dict:
    """subprocess arguments that run a command as the postgres OS user (PostgreSQL refuses root)."""
    if os.geteuid() == 0:
        return {"user": "postgres", "group": "postgres", **kwargs}
    if pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        pytest.fail("run as root or as the postgres user: the test starts PostgreSQL clusters of its own")
    return kwargs


@dataclass
class Cluster:
    data: Path
    port: int
    sockets: Path
    process: subprocess.Popen | None = None

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{BIN}:/usr/bin:/bin",
            "PGHOST": str(self.sockets),
            "PGPORT": str(self.port),
            "PGDATA": str(self.data),
            "LANG": "C.UTF-8",
            **extra,
        }

    def server_command(self) -> list[str]:
        return [
            str(BIN / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.sockets),
            "-c",
            "listen_addresses=127.0.0.1",
        ]

    def connect(self, user: str = "postgres", password: str | None = None, dbname: str = "postgres") -> psycopg.Connection:
        if password is None:  # the local socket, trusted as in the image
            return psycopg.connect(host=str(self.sockets), port=self.port, user=user, dbname=dbname, autocommit=True)
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=user, password=password, dbname=dbname, autocommit=True, connect_timeout=5
        )

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    def start(self, command: list[str], env: dict[str, str]) -> None:
        with self.log.open("a") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, **as_postgres(env=env))  # noqa: S603
        self.wait_ready()

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"server on {self.port} exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with self.connect():
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: smart shutdown
            self.process.wait(timeout=60)
        self.process = None


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="opply-pg-"))
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def primary(workdir) -> Iterator[Cluster]:
    if not (BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 server binaries not found in {BIN}")
    cluster = Cluster(data=workdir / "primary", port=free_port(), sockets=workdir)
    subprocess.run(  # noqa: S603
        [str(BIN / "initdb"), "--username", "postgres", "--auth", "trust", "--encoding", "UTF8", "-D", str(cluster.data)],
        check=True,
        capture_output=True,
        **as_postgres(env=cluster.env()),
    )
    # What the official image's entrypoint leaves: local trust, every network
    # connection with a password, and no rule for replication connections.
    (cluster.data / "pg_hba.conf").write_text("local all all trust\nhost all all all scram-sha-256\n")
    cluster.start(cluster.server_command(), cluster.env())
    init = subprocess.run(  # noqa: S603
        [BASH, str(SCRIPTS / "primary-init.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        **as_postgres(env=cluster.env(OPPLY_DB_PASSWORD=APP_PASSWORD, REPLICATION_PASSWORD=REPLICATION_PASSWORD)),
    )
    assert init.returncode == 0, init.stdout + init.stderr
    with cluster.connect() as connection:
        connection.execute("SELECT pg_reload_conf()")  # the image restarts the server after its init scripts
    yield cluster
    cluster.stop()


def start_replica(primary: Cluster, replica: Cluster) -> None:
    """The script as compose's replica service runs it, handing over to the server at the end."""
    env = replica.env(
        PRIMARY_HOST="127.0.0.1", PRIMARY_PORT=str(primary.port), REPLICATION_PASSWORD=REPLICATION_PASSWORD, BOOTSTRAP_TIMEOUT="30"
    )
    replica.start([BASH, str(SCRIPTS / "replica-entrypoint.sh"), *replica.server_command()], env)


def wait_until(query: str, cluster: Cluster, expected: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with cluster.connect(dbname="opply") as connection:
                value = connection.execute(query).fetchone()[0]
        except psycopg.errors.UndefinedTable as missing:  # not replayed yet
            value = missing
        if value == expected:
            return
        assert time.monotonic() < deadline, f"{query!r} gave {value!r}, expected {expected!r}"
        time.sleep(0.2)


def test_the_standby_streams_from_the_primary(primary, workdir):
    replica = Cluster(data=workdir / "replica", port=free_port(exclude={primary.port}), sockets=workdir)
    try:
        start_replica(primary, replica)

        with replica.connect() as connection:
            assert connection.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        # The walreceiver connects a moment after the server accepts connections.
        wait_until("SELECT active FROM pg_replication_slots WHERE slot_name = 'replica1'", primary, True)

        # The application's role and database exist, reachable over the network with a password.
        with primary.connect(user="opply", password=APP_PASSWORD, dbname="opply") as connection:
            connection.execute("CREATE TABLE probe (id int PRIMARY KEY)")
            connection.execute("INSERT INTO probe SELECT generate_series(1, 100)")
        wait_until("SELECT count(*) FROM probe", replica, 100)

        # A hot standby: it answers reads and refuses writes.
        with (
            replica.connect(user="opply", password=APP_PASSWORD, dbname="opply") as connection,
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
        ):
            connection.execute("INSERT INTO probe VALUES (101)")

        # Restarted, it skips the clone (pg_basebackup would refuse the non-empty
        # directory) and resumes streaming with the recovery settings it wrote.
        replica.stop()
        with primary.connect(user="opply", password=APP_PASSWORD, dbname="opply") as connection:
            connection.execute("INSERT INTO probe SELECT generate_series(101, 150)")
        start_replica(primary, replica)
        wait_until("SELECT count(*) FROM probe", replica, 150)
        assert replica.log.read_text().count("replica: cloning") == 1
    finally:
        replica.stop()


def test_replication_needs_the_password(primary, workdir):
    """The pg_hba line is for the replication role with its password, not an open door."""
    result = subprocess.run(  # noqa: S603
        [
            str(BIN / "pg_basebackup"),
            "-D",
            str(workdir / "intruder"),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "replicator",
            "--no-password",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        **as_postgres(env={"PATH": f"{BIN}:/usr/bin:/bin", "PGPASSWORD": "wrong"}),
    )

    assert result.returncode != 0
    assert "password authentication failed" in result.stderr
