"""The Celery application: the periodic tasks (cart sweeper, availability resync, housekeeping)."""

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.beat import PersistentScheduler

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
