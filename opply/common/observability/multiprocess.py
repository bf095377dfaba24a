"""prometheus_client's multi-process mode, done right for gunicorn and Celery.

Under gunicorn (and Celery's prefork pool) each request may land in another
process, so each process writes its metric values to files in a directory
(``PROMETHEUS_MULTIPROC_DIR``) and ``/metrics`` adds them up. Three rules
make that correct:

1. The variable must be set *before* prometheus_client is first imported
   (it picks its value class then). The gunicorn master and the Celery
   worker's main process call :func:`prepare_directory` before any app code
   is imported; workers and pool processes inherit the environment.
2. A fresh directory per start: files left by an earlier run would add its
   counts to this one (and make counters go backwards when they vanish).
   An operator-given directory is emptied; otherwise a new temporary one is
   made and removed at exit.
3. A worker that exits is marked dead (:func:`mark_process_dead`, from
   gunicorn's ``child_exit`` and Celery's ``worker_process_shutdown``): its
   "live" gauges disappear, while its counters stay in the totals.

Nothing here imports Django, and prometheus_client only after the variable
is set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set when this process made the directory itself (so it removes it at exit).
_OWNED_ENV = "OPPLY_METRICS_DIR_OWNED_BY"


def prepare_directory(purpose: str) -> Path:
    """Give this start a fresh, empty metrics directory and export it to child processes."""
    given = os.environ.get(ENV, "").strip()
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("*.db"):
            leftover.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix=f"opply-metrics-{purpose}-"))
        os.environ[ENV] = str(directory)
        os.environ[_OWNED_ENV] = str(os.getpid())
    return directory


def is_multiprocess() -> bool:
    return bool(os.environ.get(ENV))


def mark_process_dead(pid: int) -> None:
    """Forget the live gauges of a process that exited (its counters stay in the totals)."""
    if not is_multiprocess():
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def remove_directory() -> None:
    """At exit of the process that made the directory: remove it."""
    directory = os.environ.get(ENV, "")
    if directory and os.environ.get(_OWNED_ENV) == str(os.getpid()):
        shutil.rmtree(directory, ignore_errors=True)
