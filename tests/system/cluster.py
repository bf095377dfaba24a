"""PostgreSQL clusters and Redis servers of the system suites' own, on spare ports.

The shared PostgreSQL on 5432 refuses replication connections and must never
be stopped, so the suites build their own: a primary cluster and a hot
standby made from it with ``pg_basebackup -R`` (streaming replication), in a
temporary directory, on free loopback ports (in ``TEST_PORT_RANGE`` if set:
the Makefile's targets default it to 16000-16099). PostgreSQL refuses to run as root: when the suites
run as root (CI), the binaries run as the ``postgres`` OS user through
``runuser``. Redis servers to kill are plain child processes.

Everything is removed again by :meth:`PgPair.destroy` / :meth:`RedisServer.stop`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from deploy.ports import free_port as deploy_free_port

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_OS_USER = os.environ.get("PG_OS_USER", "postgres")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
DATABASE = "opply_system"


_taken: set[int] = set()


def free_port() -> int:
    """A free loopback port (see deploy/ports.py) that this session has not
    handed out already: a server it stopped may not have come back yet."""
    port = deploy_free_port(exclude=_taken)
    _taken.add(port)
    return port


def _as_pg_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", PG_OS_USER, "--", *command]


def _run(command: list[str], *, timeout: float = 120) -> None:
    result = subprocess.run(_as_pg_user(command), capture_output=True, text=True, timeout=timeout)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stdout}{result.stderr}")


def wait_for_port(port: int, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


@dataclass
class PgCluster:
    name: str
    datadir: Path
    port: int

    @property
    def log(self) -> Path:
        return self.datadir.parent / f"{self.name}.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = DATABASE, **kwargs) -> psycopg.Connection:  # type: ignore[no-untyped-def]
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database, connect_timeout=5, **kwargs)

    def start(self) -> None:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.log), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", "stop"])

    def is_running(self) -> bool:
        pidfile = self.datadir / "postmaster.pid"
        return pidfile.exists()

    def sql(self, query: str, params: list | None = None, database: str = DATABASE) -> list[tuple]:  # type: ignore[type-arg]
        with self.connect(database, autocommit=True) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description else []


@dataclass
class PgPair:
    """A primary and its streaming hot standby."""

    root: Path
    primary: PgCluster
    standby: PgCluster
    _stopped: bool = field(default=False, repr=False)

    @classmethod
    def create(cls) -> PgPair:
        root = Path(tempfile.mkdtemp(prefix="opply-pgpair-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam(PG_OS_USER)
            os.chown(root, user.pw_uid, user.pw_gid)
        primary = PgCluster("primary", root / "primary", free_port())
        standby = PgCluster("standby", root / "standby", free_port())
        pair = cls(root, primary, standby)
        try:
            pair._build()
        except BaseException:
            pair.destroy()
            raise
        return pair

    def _build(self) -> None:
        primary, standby = self.primary, self.standby
        _run([str(PG_BIN / "initdb"), "-D", str(primary.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"])
        settings = {
            "port": primary.port,
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "wal_level": "replica",
            "max_wal_senders": 5,
            "hot_standby": "on",
            "hot_standby_feedback": "on",
            "max_connections": 200,
            "shared_preload_libraries": "'pg_stat_statements'",
            # A throwaway cluster: durability buys nothing here, speed does.
            "fsync": "off",
            "full_page_writes": "off",
        }
        with (primary.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# opply system tests\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        primary.start()
        primary.sql(f'CREATE DATABASE "{DATABASE}"', database="postgres")
        primary.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        _run(
            [
                str(PG_BIN / "pg_basebackup"),
                *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
                *("-D", str(standby.datadir), "-R", "-X", "stream", "-c", "fast"),
            ]
        )
        with (standby.datadir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {standby.port}\n")
        standby.start()
        self.wait_for_replay()

    def url(self) -> str:
        return self.primary.url()

    def replica_url(self) -> str:
        return self.standby.url()

    def wait_for_replay(self, timeout: float = 30) -> None:
        """Until the standby has replayed everything the primary has written."""
        (lsn,) = self.primary.sql("SELECT pg_current_wal_flush_lsn()::text", database="postgres")[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.OperationalError):
                if self.standby.sql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn], database="postgres")[0][0]:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"the standby did not replay up to {lsn} within {timeout}s")

    def pause_replay(self) -> None:
        self.standby.sql("SELECT pg_wal_replay_pause()", database="postgres")

    def resume_replay(self) -> None:
        self.standby.sql("SELECT pg_wal_replay_resume()", database="postgres")

    def destroy(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for cluster in (self.standby, self.primary):
            if cluster.is_running():
                with contextlib.suppress(Exception):
                    cluster.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class RedisServer:
    """A Redis of our own (nothing on disk), to kill and start again empty."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None  # type: ignore[type-arg]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(  # noqa: S603
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        """SIGKILL: everything in memory is gone, clients get refused connections."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()
