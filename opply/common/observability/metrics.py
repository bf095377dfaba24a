"""Every Prometheus metric of the service, and the functions that move them.

Code elsewhere calls the functions below (``order_placed``,
``reservation_refused``...), never the metric objects: names, labels and
buckets live here, next to each other, and the dashboard
(deploy/observability/grafana/dashboards/opply.json) and the alert rules
(deploy/observability/prometheus/alerts.yml) refer to exactly these names (a
test checks that every name they use is defined here).

Multi-process: under gunicorn and Celery's prefork pool each process writes
its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode, chosen by that variable when prometheus_client is first
imported; see :mod:`opply.common.observability.multiprocess`), and a scrape
adds them up. Without the variable (tests, ``runserver``, ``manage.py``) the
values live in the process.

The hot path (a cached catalog page) moves four values: the request counter
and histogram, and two Redis timings. Label children are cached in plain
dicts so that a request costs a dict lookup per metric, not
prometheus_client's locked ``labels()``.

Hooks for work that has not landed yet are documented in
docs/observability.md ("What each metric means"): ``order_transition`` for
every status change of asynchronous fulfilment and staff order management,
``observe_fulfilment_lag`` when a pending order is confirmed, and the outbox
backlog collector in :mod:`opply.common.observability.collectors`. The
replica router and circuit breaker call ``replica_fallback`` and
``replica_circuit``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

# For measuring the overhead only (the catalog benchmark, metrics on vs off):
# OPPLY_METRICS_DISABLED=true takes the request middleware, the SQL and the
# Redis timers off the request path. Not a production switch.
TIMERS_ENABLED = os.environ.get("OPPLY_METRICS_DISABLED", "").strip().lower() != "true"

# --- HTTP ---------------------------------------------------------------------------

# Seconds: the catalog's cached page answers in a few milliseconds, an order in
# tens; past 10 s nginx and the load balancer have given up anyway.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

http_requests = Counter(
    "opply_http_requests_total",
    "HTTP requests answered, by route name (Django URL name, 'unmatched' when no route matched), method and status.",
    ["route", "method", "status"],
)
http_request_duration = Histogram(
    "opply_http_request_duration_seconds",
    "Time from the request entering Django's middleware to the response leaving it, by route name and method.",
    ["route", "method"],
    buckets=REQUEST_BUCKETS,
)

# --- Dependencies ---------------------------------------------------------------------

QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

db_query_duration = Histogram(
    "opply_db_query_duration_seconds",
    "Time of each SQL statement, by database role (primary, replica).",
    ["database"],
    buckets=QUERY_BUCKETS,
)
redis_command_duration = Histogram(
    "opply_redis_command_duration_seconds",
    "Time of each call to Redis (the availability store, carts, page cache, throttles), by command ('pipeline' for a pipeline).",
    ["command"],
    buckets=QUERY_BUCKETS,
)
replica_fallbacks = Counter(
    "opply_replica_fallbacks_total",
    "Reads that would have gone to the replica but went to the primary because the replica was unusable.",
)
replica_circuit_open = Gauge(
    "opply_replica_circuit_open",
    "1 while a live process's replica circuit breaker is open (reads on the primary), else 0.",
    multiprocess_mode="livemax",
)

# --- The business ---------------------------------------------------------------------

orders_placed = Counter(
    "opply_orders_placed_total",
    "Orders accepted, by fulfilment mode (sync: confirmed at once; async: pending until a worker decides).",
    ["fulfilment"],
)
order_transitions = Counter(
    "opply_order_transitions_total",
    "Orders entering a status: pending, confirmed, rejected, cancelled, shipped.",
    ["status"],
)
reservations_refused = Counter(
    "opply_reservations_refused_total",
    "Reservations refused for insufficient stock, by source (cart, order, checkout) and by who decided "
    "(store: the Redis availability store; database: PostgreSQL's conditional update).",
    ["source", "decided_by"],
)
idempotent_replays = Counter(
    "opply_idempotent_replays_total",
    "Requests answered from a stored Idempotency-Key outcome instead of being run again, by the replayed status.",
    ["status"],
)
sweeper_runs = Counter("opply_sweeper_runs_total", "Passes of the expired-hold sweeper.")
sweeper_last_run = Gauge(
    "opply_sweeper_last_run_timestamp_seconds",
    "When the sweeper last finished a pass (Unix time).",
    multiprocess_mode="max",
)
sweeper_holds_released = Counter(
    "opply_sweeper_holds_released_total",
    "Expired holds the sweeper released, by holder kind (cart: an abandoned cart; order: an order whose process died).",
    ["holder"],
)
sweeper_units_released = Counter(
    "opply_sweeper_units_released_total",
    "Units of stock that expired holds gave back to sale, by holder kind.",
    ["holder"],
)
FULFILMENT_LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
fulfilment_lag = Histogram(
    "opply_fulfilment_lag_seconds",
    "Time from an order's acceptance (pending) to its confirmation by the fulfilment worker.",
    buckets=FULFILMENT_LAG_BUCKETS,
)
drift_checks = Counter("opply_inventory_drift_checks_total", "Periodic reconciliations of the availability store against PostgreSQL.")
drift_found = Counter(
    "opply_inventory_drift_found_total",
    "Drifting values found by reconciliation (confirmed by a second pass), by field "
    "(on_hand, reserved: the Redis store against PostgreSQL and the holds; in_stock: a product's list flag).",
    ["field"],
)
drift_values = Gauge(
    "opply_inventory_drift_values",
    "Drifting values the latest reconciliation found, by field (0: the store agrees with PostgreSQL).",
    ["field"],
    multiprocess_mode="mostrecent",
)
drift_last_check = Gauge(
    "opply_inventory_drift_last_check_timestamp_seconds",
    "When reconciliation last finished (Unix time).",
    multiprocess_mode="max",
)

# --- The worker ---------------------------------------------------------------------------

TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

celery_tasks = Counter(
    "opply_celery_tasks_total",
    "Celery tasks run by this service's workers, by task name and outcome (succeeded, failed, retried, ...).",
    ["task", "outcome"],
)
celery_task_duration = Histogram(
    "opply_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=TASK_BUCKETS,
)

# Also exported, by collectors that ask at scrape time (opply.common.observability.collectors):
#   opply_celery_queue_messages{queue}, opply_celery_queue_consumers{queue}, opply_broker_up,
#   opply_outbox_backlog_messages, opply_outbox_oldest_unsent_age_seconds.
COLLECTED_METRICS = (
    "opply_celery_queue_messages",
    "opply_celery_queue_consumers",
    "opply_broker_up",
    "opply_outbox_backlog_messages",
    "opply_outbox_oldest_unsent_age_seconds",
)

# --- The API -------------------------------------------------------------------------------

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_query_children: dict[str, Any] = {}
_redis_children: dict[str, Any] = {}
_DATABASE_ROLES = {"default": "primary", "replica": "replica"}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request answered (the request metrics middleware calls this)."""
    # Any method a client invents would be a new series (and a new cache
    # entry): bound it before anything else.
    if method not in _KNOWN_METHODS:
        method = "other"
    key = (route, method, status)
    children = _request_children.get(key)
    if children is None:
        label_method = method
        children = (
            http_requests.labels(route, label_method, str(status)),
            http_request_duration.labels(route, label_method),
        )
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def observe_query(alias: str, seconds: float) -> None:
    """One SQL statement on the database alias ``alias`` (``default`` is reported as ``primary``)."""
    child = _query_children.get(alias)
    if child is None:
        child = _query_children[alias] = db_query_duration.labels(_DATABASE_ROLES.get(alias, alias))
    child.observe(seconds)


def observe_redis(command: str, seconds: float) -> None:
    child = _redis_children.get(command)
    if child is None:
        child = _redis_children[command] = redis_command_duration.labels(command)
    child.observe(seconds)


def replica_fallback() -> None:
    """A read went to the primary because the replica was unusable (opply.common.db.routing)."""
    replica_fallbacks.inc()


def replica_circuit(*, is_open: bool) -> None:
    """The replica circuit breaker of this process opened (True) or closed (False) (opply.common.db.replica)."""
    replica_circuit_open.set(1 if is_open else 0)


def order_placed(*, fulfilment: str) -> None:
    """An order was accepted: ``sync`` (confirmed in the request) or ``async`` (pending).

    Call after the transaction that wrote it committed; also call
    :func:`order_transition` with the status it entered.
    """
    orders_placed.labels(fulfilment).inc()


def order_transition(status: str, *, count: int = 1) -> None:
    """An order (``count`` orders: a fulfilment batch) entered ``status``
    (pending, confirmed, rejected, cancelled, shipped), after commit."""
    order_transitions.labels(status).inc(count)


def reservation_refused(*, source: str, decided_by: str, count: int = 1) -> None:
    """Stock was short: ``source`` is cart, order, checkout or fulfilment; ``decided_by`` store or database."""
    reservations_refused.labels(source, decided_by).inc(count)


def idempotent_replay(*, status: int) -> None:
    idempotent_replays.labels(str(status)).inc()


def hold_released_by_sweeper(*, holder: str, units: int) -> None:
    """The sweeper released an expired hold of kind ``holder`` (cart, order) giving back ``units``."""
    sweeper_holds_released.labels(holder).inc()
    sweeper_units_released.labels(holder).inc(units)


def sweeper_pass_finished() -> None:
    sweeper_runs.inc()
    sweeper_last_run.set(time.time())


def observe_fulfilment_lag(seconds: float) -> None:
    """A pending order was confirmed ``seconds`` after it was accepted."""
    fulfilment_lag.observe(seconds)


def drift_check_finished(counts: dict[str, int]) -> None:
    """Reconciliation finished; ``counts`` is drifting values per field (fields absent: none)."""
    drift_checks.inc()
    fields = ("on_hand", "reserved", "in_stock")
    for field in (*fields, *sorted(set(counts) - set(fields))):
        found = counts.get(field, 0)
        if found:
            drift_found.labels(field).inc(found)
        drift_values.labels(field).set(found)
    drift_last_check.set(time.time())


def task_finished(*, task: str, outcome: str, seconds: float | None) -> None:
    celery_tasks.labels(task, outcome).inc()
    if seconds is not None:
        celery_task_duration.labels(task).observe(seconds)
