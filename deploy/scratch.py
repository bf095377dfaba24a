"""Scratch resources on the machine's shared services, for the deployment checks.

The smoke run and the nginx tests run the app as a separate process (a
container, gunicorn), so they cannot use pytest-django's transactional test
database: they get a database of their own next to the one DATABASE_URL
names (``<name>_<suffix>``), created empty and dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import environ
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/opply"


def read_env() -> environ.Env:
    """The project's environment: real variables first, then .env (as the settings read it)."""
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    return environ.Env()


def sibling_database_url(database_url: str, suffix: str) -> str:
    """``postgres://…/opply`` -> ``postgres://…/opply_<suffix>``."""
    base, _, name = database_url.rpartition("/")
    return f"{base}/{name.split('?')[0]}_{suffix}"


def _admin(database_url: str) -> psycopg.Connection:
    config = environ.Env.db_url_config(database_url)
    params = {"host": config.get("HOST"), "port": config.get("PORT"), "user": config.get("USER"), "password": config.get("PASSWORD")}
    return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **{k: v for k, v in params.items() if v})


def drop_database(database_url: str) -> None:
    name = environ.Env.db_url_config(database_url)["NAME"]
    with _admin(database_url) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(database_url: str) -> None:
    """A fresh, empty database (an old one of the same name is dropped first)."""
    drop_database(database_url)
    name = environ.Env.db_url_config(database_url)["NAME"]
    with _admin(database_url) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextmanager
def scratch_database(suffix: str) -> Iterator[str]:
    """Create ``<DATABASE_URL's name>_<suffix>``, yield its URL, drop it."""
    url = sibling_database_url(read_env().str("DATABASE_URL", default=DEFAULT_DATABASE_URL), suffix)
    create_database(url)
    try:
        yield url
    finally:
        drop_database(url)
