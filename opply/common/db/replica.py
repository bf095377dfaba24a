"""Is the read replica worth reading from? A circuit breaker and measured lag.

Reads go to the replica only while it answers and keeps up. When a
connection to it fails, or its measured lag passes ``REPLICA_MAX_LAG_SECONDS``,
the breaker opens and reads go to the primary for ``REPLICA_RETRY_SECONDS``;
then one request tries the replica again (half-open) and closes the breaker
if it answers and keeps up. So an unreachable replica costs one connect
timeout per process per retry interval, not one per request.

The breaker's state lives in the process (a module global behind a lock),
not in Redis: each gunicorn worker finds out on its own within one failed
attempt, which is cheap, and a shared breaker would make every read depend
on Redis, which can be down too. It is also what the process itself
experiences: a network problem between one instance and the replica is
that instance's problem.

Lag is measured at most every ``REPLICA_LAG_CHECK_SECONDS`` per process,
from both ends: the replica is caught up if it has replayed the primary's
flushed WAL position (what the primary can send it: comparing with the
insert or write position would report an idle replica as behind); otherwise
its lag is the age of the last transaction it replayed
(``pg_last_xact_replay_timestamp``). Readiness reports the same
figure against the same threshold.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connections

from opply.common.observability import metrics

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"


class CircuitBreaker:
    """Closed: use the replica. Open: do not, until the retry time; then a
    single caller gets to try (half-open) while the others keep away."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open_until: float | None = None
        self._trial_running = False
        self.reason = ""

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        if self._open_until is None:  # the hot path: no lock
            return True
        with self._lock:
            if self._open_until is None:
                return True
            if self._trial_running or time.monotonic() < self._open_until:
                return False
            self._trial_running = True
            return True

    def succeeded(self) -> None:
        if self._open_until is None:
            return
        with self._lock:
            self._open_until, self._trial_running, self.reason = None, False, ""
        metrics.replica_circuit(is_open=False)
        logger.warning("replica back: reads return to it")

    def failed(self, reason: str) -> None:
        with self._lock:
            was_closed = self._open_until is None
            self._open_until = time.monotonic() + settings.REPLICA_RETRY_SECONDS
            self._trial_running = False
            self.reason = reason
        metrics.replica_circuit(is_open=True)
        if was_closed:
            logger.warning("replica unusable (%s): reads go to the primary for %ss", reason, settings.REPLICA_RETRY_SECONDS)

    def retry_in(self) -> float:
        until = self._open_until
        return max(until - time.monotonic(), 0.0) if until is not None else 0.0

    def reset(self) -> None:
        with self._lock:
            self._open_until, self._trial_running, self.reason = None, False, ""
        metrics.replica_circuit(is_open=False)


breaker = CircuitBreaker()


@dataclass(frozen=True)
class LagSample:
    seconds: float
    measured_at: float  # time.monotonic()


_last_lag: LagSample | None = None


def replica_configured() -> bool:
    """False when the replica alias is the primary itself (no replica set up, or tests)."""
    return bool(settings.DATABASE_REPLICA_CONFIGURED)


def measure_lag() -> float:
    """Seconds the replica is behind the primary (0.0 when caught up).

    Raises ``DatabaseError`` if either end cannot be reached.
    """
    global _last_lag
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn()::text")
        (primary_lsn,) = cursor.fetchone()
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(
            """
            SELECT pg_is_in_recovery(),
                   pg_last_wal_replay_lsn() >= %s::pg_lsn,
                   EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
            """,
            [primary_lsn],
        )
        replica_in_recovery, caught_up, since_last_replay = cursor.fetchone()
    if not replica_in_recovery or caught_up:  # the "replica" is a primary, or it has replayed everything
        lag = 0.0
    elif since_last_replay is None:  # behind, and nothing replayed since it started
        lag = float("inf")
    else:
        lag = float(since_last_replay)
    _last_lag = LagSample(max(lag, 0.0), time.monotonic())
    return _last_lag.seconds


def last_known_lag() -> float | None:
    """The latest lag this process measured, if any (no query)."""
    sample = _last_lag
    return sample.seconds if sample is not None else None


def _lag_check_due() -> bool:
    sample = _last_lag
    return sample is None or time.monotonic() - sample.measured_at >= settings.REPLICA_LAG_CHECK_SECONDS


def replica_usable() -> bool:
    """Whether reads may go to the replica now (the router asks before each read).

    Connects if needed (Django's health check of a persistent connection
    runs here, once per request), and measures the lag when it is due.
    """
    if not replica_configured():
        return True
    if not breaker.allow():
        return False
    connection = connections[REPLICA]
    try:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        if _lag_check_due() or breaker.is_open:
            lag = measure_lag()
            if lag > settings.REPLICA_MAX_LAG_SECONDS:
                breaker.failed(f"lagging {lag:.1f}s behind, over {settings.REPLICA_MAX_LAG_SECONDS}s")
                return False
    except DatabaseError as exc:
        breaker.failed(f"unreachable: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
        _close_quietly(connection)
        return False
    except BaseException:
        breaker.failed("check interrupted")
        raise
    breaker.succeeded()
    return True


def _close_quietly(connection) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(DatabaseError):
        connection.close()
