"""Create the database named by DATABASE_URL if it does not exist yet.

``make migrate`` runs this first, so that a fresh clone on a machine with a
bare PostgreSQL server needs no manual ``createdb``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import environ
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = environ.Env()
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    config = env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/opply")
    name = config["NAME"]
    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "dbname": "postgres",
        "connect_timeout": 5,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
