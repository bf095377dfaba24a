"""The Celery application: the periodic tasks (cart sweeper, availability resync, housekeeping)."""

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("opply")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
