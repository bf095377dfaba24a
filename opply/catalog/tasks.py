"""Periodic tasks of the availability store (Celery beat, see settings)."""

from __future__ import annotations

import logging
import time
from collections import Counter

from celery import shared_task

from opply.catalog import reconcile, reservations
from opply.catalog.listing import repair_in_stock
from opply.common import heartbeat
from opply.common.observability import metrics

logger = logging.getLogger(__name__)


def release_expired(*, limit: int = 500) -> int:
    """Give back the stock of every hold whose time has passed; return how many.

    Each release is one script that re-checks the expiry, so two sweepers
    running at once, or a sweeper racing a checkout or a renewal, release a
    hold at most once and never one that was just renewed.
    """
    released = 0
    while True:
        holders = reservations.expired_holders(limit=limit)
        for holder in holders:
            release = reservations.release(holder, only_if_expired=True)
            if release.released:
                released += 1
                # holder is "cart:<customer>" or "order:<order>"
                metrics.hold_released_by_sweeper(holder=holder.partition(":")[0], units=release.units)
        if len(holders) < limit:
            return released


@shared_task(ignore_result=True)
def release_expired_holds() -> int:
    count = release_expired()
    metrics.sweeper_pass_finished()
    if count:
        logger.info("released %d expired hold(s)", count)
    # Readiness reports when the sweeper last ran (opply/common/health.py).
    heartbeat.beat(heartbeat.SWEEPER)
    return count


@shared_task(ignore_result=True)
def resync_availability(batch: int = 1000) -> int:
    """Apply PostgreSQL's on-hand values to the store by version: repairs what
    was missed while Redis was unreachable, and never goes back in time.
    Then repair the list flag wherever it disagrees with availability (a
    product that sold out while Redis was down, or whose keys were rebuilt
    after Redis restarted empty, crosses zero in no script: nothing else
    would flip it). Returns how many flags were repaired."""
    repaired = 0
    for product_ids in reservations.rebuild_all(batch=batch):
        repaired += repair_in_stock(product_ids)
    if repaired:
        logger.warning("resync repaired the in_stock flag of %d product(s)", repaired)
    return repaired


# A value whose offset from the truth moves between the two passes was a
# change in flight (find_drift reads the holds and the counters at different
# moments), not drift.
DRIFT_CONFIRM_SECONDS = 2.0


def confirmed_drift() -> list[reconcile.Drift]:
    """Drift found twice, ``DRIFT_CONFIRM_SECONDS`` apart, with the same offset from the truth."""
    first = reconcile.find_drift()
    if not first:
        return []
    time.sleep(DRIFT_CONFIRM_SECONDS)
    offsets = {(d.product_id, d.field): (d.found or 0) - d.expected for d in first}
    return [d for d in reconcile.find_drift() if offsets.get((d.product_id, d.field)) == (d.found or 0) - d.expected]


@shared_task(ignore_result=True)
def check_availability_drift() -> int:
    """Reconciliation, report only: count drifting values for the metrics and the
    "store drift found" alert (``manage.py inventory_reconcile --fix`` repairs)."""
    drift = confirmed_drift()
    metrics.drift_check_finished(dict(Counter(d.field for d in drift)))
    for d in drift:
        logger.warning("availability drift: product %s %s found=%s expected=%s", d.product_id, d.field, d.found, d.expected)
    return len(drift)
