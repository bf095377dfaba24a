"""Drift between the availability store (Redis) and PostgreSQL.

PostgreSQL's ``on_hand`` (and its version) is the truth; ``reserved`` must
equal the sum of the live holds. Drift can come from Redis being unreachable
while stock changed, a process dying mid-way, or a manual edit. Repairing it
is safe at any time: on-hand values are applied by version, and the reserved
counters are recomputed from the holds in the same pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from opply.catalog import inventory
from opply.catalog.models import Stock
from opply.catalog.stock import OnHand

BATCH = 1000


@dataclass(frozen=True)
class Drift:
    product_id: int
    field: str
    redis: int | None
    expected: int


def find_drift() -> list[Drift]:
    """Every product whose Redis state disagrees with PostgreSQL and the holds.

    Missing keys are not drift: they are rebuilt from PostgreSQL on first use.
    """
    reserved = inventory.reserved_by_holds()
    drift: list[Drift] = []
    last_id = 0
    while True:
        rows = list(
            Stock.objects.using("default")
            .filter(product_id__gt=last_id)
            .order_by("product_id")
            .values_list("product_id", "on_hand", "version")[:BATCH]
        )
        if not rows:
            break
        last_id = rows[-1][0]
        stored = inventory.stored_state(pid for pid, _, _ in rows)
        for pid, on_hand, _version in rows:
            state = stored[pid]
            if state is None:
                continue
            if state[0] != on_hand:
                drift.append(Drift(pid, "on_hand", state[0], on_hand))
            if state[2] != reserved.get(pid, 0):
                drift.append(Drift(pid, "reserved", state[2], reserved.get(pid, 0)))
    return drift


def repair(drift: list[Drift]) -> None:
    """Apply PostgreSQL's on-hand values and recompute reserved counters."""
    on_hand_ids = sorted({d.product_id for d in drift if d.field == "on_hand"})
    if on_hand_ids:
        truth = {
            pid: OnHand(on_hand, version)
            for pid, on_hand, version in Stock.objects.using("default")
            .filter(product_id__in=on_hand_ids)
            .values_list("product_id", "on_hand", "version")
        }
        inventory.force_on_hand(truth)
    for d in drift:
        if d.field == "reserved":
            inventory.set_reserved(d.product_id, d.expected)
