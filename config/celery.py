"""The Celery application: the periodic tasks (cart sweeper, availability resync, housekeeping)."""

import os
import sys
from pathlib import Path
from typing import Any

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import task_prerun, worker_init, worker_process_shutdown, worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("opply")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _add_fulfilment_consumer() -> None:
    # Every worker consumes order.placed in batches (opply/orders/consumer.py;
    # FULFILMENT_CONSUMER=false turns it off for one worker).
    from opply.orders.consumer import FulfilmentConsumer

    app.steps["consumer"].add(FulfilmentConsumer)


_add_fulfilment_consumer()


# --- Worker metrics (opply/common/observability/worker.py) --------------------------
# The pool's processes share a metrics directory, which must be chosen before
# anything imports prometheus_client. The worker imports Django (and so the
# app's metrics) before any worker signal is sent, but this module is
# imported by the `celery` command's own callback, where click already knows
# which subcommand runs: choose the directory here, for `celery worker` only.


def _running_celery_worker() -> bool:
    click = sys.modules.get("click")  # imported by the celery command; elsewhere not our business
    if click is None:
        return False
    context = click.get_current_context(silent=True)
    return context is not None and context.invoked_subcommand == "worker"


if _running_celery_worker():
    from opply.common.observability import multiprocess

    multiprocess.prepare_directory("celery")


@worker_ready.connect
def _serve_worker_metrics(**kwargs: Any) -> None:
    from opply.common.observability.worker import start_exporter

    start_exporter()


@worker_process_shutdown.connect
def _pool_process_gone(**kwargs: Any) -> None:
    from opply.common.observability import multiprocess

    multiprocess.mark_process_dead(os.getpid())


@worker_shutdown.connect
def _remove_metrics_directory(**kwargs: Any) -> None:
    from opply.common.observability import multiprocess

    multiprocess.remove_directory()


class HeartbeatScheduler(PersistentScheduler):
    """celery beat's default scheduler, with a heartbeat file touched on every tick.

    ``celery -A config beat --scheduler config.celery.HeartbeatScheduler``
    (compose.yaml, the ECS beat task). The schedule file says nothing about
    whether beat still schedules: it is written every few minutes at best, and
    some dbm back-ends write it only when beat stops. The heartbeat,
    ``<schedule file>.heartbeat``, is touched each time beat wakes up (at least
    every ``beat_max_interval``, 5 minutes), and the container's health check
    reads its age.
    """

    def tick(self, *args: Any, **kwargs: Any) -> float:
        Path(f"{self.schedule_filename}.heartbeat").touch()
        return super().tick(*args, **kwargs)


@worker_init.connect
def _worker_database_timeouts(**kwargs) -> None:  # type: ignore[no-untyped-def]
    """The worker's tasks may run longer than a request (opply/common/db/timeouts.py).

    Set here and not through the environment because every process imports
    this module (config/__init__.py): only a started worker is a worker.
    """
    from opply.common.db.timeouts import use_role

    use_role("worker")


@task_prerun.connect
def _tasks_read_the_primary(**kwargs) -> None:  # type: ignore[no-untyped-def]
    """Tasks are maintenance on the write path (sweeper, resync): they read
    what PostgreSQL has committed, never a lagging replica."""
    from opply.common.db.routing import pin_to_primary

    pin_to_primary()
