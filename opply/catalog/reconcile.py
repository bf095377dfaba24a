"""Drift between the availability store (Redis), PostgreSQL and the list flag.

PostgreSQL's ``on_hand`` (and its version) is the truth; ``reserved`` must
equal the sum of the live holds; a product's ``in_stock`` flag (which the
customer list filters on) must say whether anything is available, i.e.
on hand minus reserved is positive. Drift can come from Redis being
unreachable while stock changed, a process dying mid-way, or a manual edit.
Repairing it is safe at any time: on-hand values are applied by version, the
reserved counters are recomputed from the holds, and flags are re-derived
under their row locks.
"""

from __future__ import annotations

from dataclasses import dataclass

from opply.catalog import inventory
from opply.catalog.listing import refresh_in_stock
from opply.catalog.models import Product
from opply.catalog.stock import on_hand_batches, on_hand_of

BATCH = 1000


@dataclass(frozen=True)
class Drift:
    product_id: int
    field: str  # "on_hand" or "reserved" (in Redis), "in_stock" (the product row's flag, 0 or 1)
    found: int | None
    expected: int


def find_drift() -> list[Drift]:
    """Every product whose Redis state disagrees with PostgreSQL and the holds.

    Missing keys are not drift: they are rebuilt from PostgreSQL on first use.
    The flag is checked for every product, keys or not.
    """
    reserved = inventory.reserved_by_holds()
    drift: list[Drift] = []
    for truth in on_hand_batches(BATCH):
        stored = inventory.stored_state(truth)
        flags = dict(Product.objects.using("default").filter(id__in=list(truth)).values_list("id", "in_stock"))
        for pid, on_hand in ((pid, value.on_hand) for pid, value in truth.items()):
            expected_flag = on_hand - reserved.get(pid, 0) > 0
            if flags.get(pid) is not None and flags[pid] != expected_flag:
                drift.append(Drift(pid, "in_stock", int(flags[pid]), int(expected_flag)))
            state = stored[pid]
            if state is None:
                continue
            if state[0] != on_hand:
                drift.append(Drift(pid, "on_hand", state[0], on_hand))
            if state[2] != reserved.get(pid, 0):
                drift.append(Drift(pid, "reserved", state[2], reserved.get(pid, 0)))
    return drift


def repair(drift: list[Drift]) -> None:
    """Apply PostgreSQL's on-hand values, recompute reserved counters, then
    re-derive the list flag of every drifting product."""
    on_hand_ids = sorted({d.product_id for d in drift if d.field == "on_hand"})
    if on_hand_ids:
        inventory.force_on_hand(on_hand_of(on_hand_ids))
    for d in drift:
        if d.field == "reserved":
            inventory.set_reserved(d.product_id, d.expected)
    refresh_in_stock(sorted({d.product_id for d in drift}))
