"""Sample what the bench database's backends are doing during a measured run.

Every ``--interval`` seconds for ``--seconds``, one query of
``pg_stat_activity``: each backend of the bench database (other than this
one) that is in a statement or in an open transaction is counted under what
it waits for: ``CPU`` (active, no wait event), ``Lock:transactionid`` or
``Lock:tuple`` (a row lock held by another transaction: the hot product's
stock row), ``IO:WALSync`` / ``LWLock:WALWrite`` (its commit waiting for the
WAL flush), ``in transaction: app`` (a transaction open while the
application works between two statements), and so on. Writes the average
number of backends per state to ``--out`` (JSON): how many of the server's
connections were waiting, and on what. One long-lived connection and one
query per sample: a small load next to the benchmark's.

Usage: ``pg_waits.py --seconds 20 --out FILE`` with ``DATABASE_URL`` set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import psycopg

QUERY = """
SELECT CASE
         WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU')
         ELSE 'in transaction: app'
       END
  FROM pg_stat_activity
 WHERE datname = current_database()
   AND pid <> pg_backend_pid()
   AND backend_type = 'client backend'
   AND state IN ('active', 'idle in transaction')
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    counts: dict[str, int] = {}
    samples = 0
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, connect_timeout=5) as connection:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            for (state,) in connection.execute(QUERY).fetchall():
                counts[state] = counts.get(state, 0) + 1
            samples += 1
            time.sleep(args.interval)
    average = {state: count / samples for state, count in sorted(counts.items(), key=lambda item: -item[1])} if samples else {}
    args.out.write_text(json.dumps({"samples": samples, "interval_s": args.interval, "average_backends": average}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
