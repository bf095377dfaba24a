"""How long a query may wait, decided by the kind of process that sends it.

Without limits, one lock (``LOCK TABLE``, a long migration, a stuck
transaction) freezes every gunicorn worker that touches the table, and then
the whole API: even requests that need no database queue behind them. So
every connection starts with ``lock_timeout`` and ``statement_timeout``
(libpq ``options``, sent once when the connection opens, no extra round
trip), chosen per role:

* ``web``: a request. Short, so that a blocked request turns into a 503 with
  ``Retry-After`` (see ``opply.common.errors``) within seconds and the worker
  is free again. The default for any process that does not say otherwise.
* ``worker``: Celery tasks (sweeper, resync, cleanup): batches that may take
  longer, but must still never hang forever.
* ``maintenance``: ``manage.py`` commands (migrate, reconcile, seeding): no
  statement limit (an index build on a big table takes minutes), but a lock
  limit, so that a migration never queues behind a long transaction while
  every request queues behind the migration.

``manage.py`` and ``config/wsgi.py`` set ``PROCESS_ROLE`` before the settings
load; the Celery worker switches at start-up (``config/celery.py``).
"""

from __future__ import annotations

ROLES = ("web", "worker", "maintenance")


def postgres_options(*, lock_timeout_ms: int, statement_timeout_ms: int) -> str:
    """The libpq ``options`` string that sets both timeouts (0: no limit)."""
    return f"-c lock_timeout={int(lock_timeout_ms)} -c statement_timeout={int(statement_timeout_ms)}"


def use_role(role: str) -> None:
    """Give this process the timeouts of ``role`` from now on.

    For processes that learn their role after the settings loaded (the Celery
    worker). Open connections are closed so that the next query reconnects
    with the new limits.
    """
    from django.conf import settings
    from django.db import connections

    if role not in ROLES:
        raise ValueError(f"unknown process role {role!r}; expected one of {ROLES}")
    options = postgres_options(**settings.DATABASE_TIMEOUTS[role])
    for alias in settings.DATABASES:
        settings.DATABASES[alias].setdefault("OPTIONS", {})["options"] = options
        connections[alias].settings_dict.setdefault("OPTIONS", {})["options"] = options
    connections.close_all()
    settings.PROCESS_ROLE = role
