import os
import time

from celery.beat import PersistentScheduler

from config.celery import HeartbeatScheduler, app


def test_beat_touches_its_heartbeat_on_every_tick(tmp_path):
    """The compose and ECS health checks of beat read the heartbeat's age."""
    schedule = tmp_path / "celerybeat-schedule"
    heartbeat = tmp_path / "celerybeat-schedule.heartbeat"
    scheduler = HeartbeatScheduler(app=app, schedule_filename=str(schedule))
    try:
        scheduler.tick()
        first = heartbeat.stat().st_mtime
        os.utime(heartbeat, (first - 600, first - 600))

        scheduler.tick()
    finally:
        scheduler.close()

    assert isinstance(scheduler, PersistentScheduler)
    assert time.time() - heartbeat.stat().st_mtime < 5
