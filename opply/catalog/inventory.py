"""The availability store: what customers can still buy, in Redis.

Private to the catalog: everything else reaches it through
:mod:`opply.catalog.reservations`, which takes public UUIDs, publishes the
changes and owns the fallback to PostgreSQL. This module speaks the store's
own language (internal product ids, raw before/after availabilities).

PostgreSQL holds the durable truth (``on_hand`` per product). Redis holds the
fast shared view that carts and orders reserve against; the keys are laid
out in :mod:`opply.catalog.keys`. A product's ``on_hand`` in Redis is a
versioned copy of the PostgreSQL row: a value is applied only if its version
is newer, so late or repeated updates never go back in time, and a missing
key is rebuilt from PostgreSQL. A holder's TTL is renewed on every change
that changes a quantity, never beyond its maximum lifetime (a cart's
CART_MAX_LIFETIME_SECONDS after its first reservation); the sweeper releases
what has expired.

Every change is one Lua script (``lua/*.lua``), so it is atomic: a reservation of several
lines takes all of them or none and reports what is available per line.

Hash tags: a product's keys share the ``{p<id>}`` slot. Scripts that touch
several products (a multi-line reservation, releasing a cart) need every key
on one node: this store assumes a single-shard Redis (ElastiCache with
cluster mode disabled, replicas for failover). Moving to cluster mode means
per-product scripts with compensation, behind these same functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from redis.exceptions import NoScriptError

from opply.catalog import scripts
from opply.catalog.keys import EXPIRY_KEY, HOLD_KEY_PATTERN, hold_key, product_key
from opply.catalog.stock import OnHand, on_hand_of
from opply.common.redis import get_redis

# --- Results ------------------------------------------------------------------------------


@dataclass
class Change:
    """Availability of one product before and after a script."""

    product_id: int
    before: int
    after: int


def _changes(flat: Sequence) -> list[Change]:  # type: ignore[type-arg]
    return [Change(int(flat[i]), int(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)]


@dataclass
class ReservationResult:
    ok: bool
    changes: list[Change] = field(default_factory=list)
    # product id -> units available now, for every line that was short
    short: dict[int, int] = field(default_factory=dict)
    # set when a per-customer cap refused the change: ("units", pid, cap, held) or ("lines", cap)
    cap: tuple | None = None  # type: ignore[type-arg]
    # what an expired hold gave back before this change was tried
    expired: list[Change] = field(default_factory=list)


class InventoryError(Exception):
    """The store answered something it should never answer (a bug, not bad input)."""


# --- Functions ----------------------------------------------------------------------------


def sync_on_hand(values: Mapping[int, OnHand]) -> list[Change]:
    """Apply committed on-hand values (creating missing keys)."""
    if not values:
        return []
    pids = sorted(values)
    args = [len(pids), *pids, *(values[p].on_hand for p in pids), *(values[p].version for p in pids)]
    return _changes(scripts.SYNC(keys=[product_key(p) for p in pids], args=args))


# Holds that PostgreSQL knows of and that must survive the loss of Redis:
# orders accepted but not yet fulfilled (asynchronous mode). Their owner
# registers a source (reservations.register_pending_holds): product ids ->
# [(holder, {product id: units})] for the holds that cover those products.
PendingHolds = Callable[[list[int]], list[tuple[str, dict[int, int]]]]
_pending_hold_sources: list[PendingHolds] = []
# A restored hold expires this long after its restoration (its owner fulfils
# it long before): the same as a pending order's own hold.
RESTORED_HOLD_SECONDS = 7 * 86400


def register_pending_holds(source: PendingHolds) -> None:
    if source not in _pending_hold_sources:
        _pending_hold_sources.append(source)


def sync_on_hand_restoring(values: Mapping[int, OnHand]) -> list[Change]:
    """:func:`sync_on_hand`, and for every key it had to create (lost with a
    Redis restart) the pending holds on that product are held again: a rebuilt
    store never offers units that accepted orders already have."""
    pids = sorted(values)
    if not pids:
        return []
    pipe = get_redis().pipeline(transaction=False)
    for pid in pids:
        pipe.exists(product_key(pid))
    missing = [pid for pid, exists in zip(pids, pipe.execute(), strict=True) if not exists]
    changes = sync_on_hand(values)
    if missing:
        changes += restore_pending_holds(missing)
    return changes


def restore_pending_holds(product_ids: list[int]) -> list[Change]:
    changes: list[Change] = []
    expiry = time.time() + RESTORED_HOLD_SECONDS
    for source in _pending_hold_sources:
        for holder, lines in source(product_ids):
            pids = sorted(p for p in lines if p in set(product_ids))
            if not pids:
                continue
            keys = [hold_key(holder), EXPIRY_KEY, *(product_key(p) for p in pids)]
            changes += _changes(scripts.RESTORE(keys=keys, args=[holder, expiry, len(pids), *pids, *(lines[p] for p in pids)]))
    return changes


def rebuild_from_database(product_ids: Iterable[int]) -> list[Change]:
    """Load on-hand values from PostgreSQL into missing (or older) keys; holds
    of accepted orders on the products whose keys were missing are restored."""
    return sync_on_hand_restoring(on_hand_of(product_ids))


def adjust_hold(
    holder: str,
    quantities: Mapping[int, int],
    *,
    ttl_seconds: int,
    max_lifetime_seconds: int = 0,
    absolute: bool = False,
    max_units_per_product: int = 0,
    max_lines: int = 0,
) -> ReservationResult:
    """Change what ``holder`` reserves: by ``quantities`` (product id -> +reserve /
    -release) or, with ``absolute``, to those quantities.

    A change renews the hold for ``ttl_seconds``, but never past
    ``max_lifetime_seconds`` (0: no limit) after its first reservation; a
    call that changes no quantity does not renew it.

    All or nothing: if any line is short or over a cap, nothing changes. Keys
    missing from Redis are rebuilt from PostgreSQL and the script retried.
    Raises ``redis.RedisError`` when Redis is unreachable.
    """
    pids = sorted(p for p, q in quantities.items() if q or absolute)
    if not pids:
        return ReservationResult(ok=True)
    now = time.time()
    script = scripts.ADJUST
    keys = [hold_key(holder), EXPIRY_KEY, *(product_key(p) for p in pids)]
    mode = "set" if absolute else "delta"
    args = [
        holder,
        now,
        ttl_seconds,
        max_lifetime_seconds,
        max_units_per_product,
        max_lines,
        mode,
        len(pids),
        *pids,
        *(quantities[p] for p in pids),
    ]
    expired: list[Change] = []
    for _ in range(3):
        outcome, *rest = script(keys=keys, args=args)
        expired += _changes(rest[-1])
        if outcome == "missing":
            rebuild_from_database(int(p) for p in rest[0])
            continue
        if outcome == "ok":
            return ReservationResult(ok=True, changes=_changes(rest[0]), expired=expired)
        if outcome == "short":
            flat = rest[0]
            return ReservationResult(ok=False, short={int(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}, expired=expired)
        if outcome == "cap_units":
            return ReservationResult(ok=False, cap=("units", int(rest[0]), int(rest[1]), int(rest[2])), expired=expired)
        if outcome == "cap_lines":
            return ReservationResult(ok=False, cap=("lines", int(rest[0])), expired=expired)
        raise InventoryError(f"adjust_hold({holder}) answered {outcome} {rest}")
    raise InventoryError(f"availability keys for {pids} keep disappearing")


def release_hold(holder: str, *, only_if_expired: bool = False) -> tuple[bool, list[Change]]:
    """Give back everything ``holder`` reserved (if expired, with ``only_if_expired``);
    also tell whether this call did the release (False: nothing was held,
    another caller released it first, or it was renewed)."""
    outcome, flat = scripts.RELEASE(
        keys=[hold_key(holder), EXPIRY_KEY], args=[holder, "expired" if only_if_expired else "all", time.time()]
    )
    return outcome == "released", _changes(flat)


def commit_hold(holder: str, committed: Mapping[int, tuple[int, OnHand]]) -> list[Change]:
    """After a PostgreSQL commit: ``committed`` maps product id -> (units sold, new on-hand)."""
    pids = sorted(committed)
    if not pids:
        return []
    args = [
        holder,
        len(pids),
        *pids,
        *(committed[p][0] for p in pids),
        *(committed[p][1].on_hand for p in pids),
        *(committed[p][1].version for p in pids),
    ]
    return _changes(scripts.COMMIT(keys=[hold_key(holder), EXPIRY_KEY, *(product_key(p) for p in pids)], args=args))


def commit_holds(sales: Sequence[tuple[str, Mapping[int, tuple[int, OnHand]]]]) -> list[Change]:
    """:func:`commit_hold` for many holders (a fulfilment batch), pipelined: one round trip."""
    if not sales:
        return []
    script = scripts.COMMIT
    client = get_redis()
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        for holder, committed in sales:
            pids = sorted(committed)
            keys = [hold_key(holder), EXPIRY_KEY, *(product_key(p) for p in pids)]
            args = [
                holder,
                len(pids),
                *pids,
                *(committed[p][0] for p in pids),
                *(committed[p][1].on_hand for p in pids),
                *(committed[p][1].version for p in pids),
            ]
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        try:
            results = pipe.execute()
        except NoScriptError:
            # Redis forgot the script (a restart): no call ran; load it and go again.
            if attempt:
                raise
            client.script_load(script.source)
            continue
        return [change for flat in results for change in _changes(flat)]
    raise InventoryError("unreachable")  # pragma: no cover


def holders_present(holders: Sequence[str]) -> list[str]:
    """Those of ``holders`` that hold something now, in one round trip."""
    if not holders:
        return []
    pipe = get_redis().pipeline(transaction=False)
    for holder in holders:
        pipe.exists(hold_key(holder))
    return [holder for holder, exists in zip(holders, pipe.execute(), strict=True) if exists]


def renew_hold(holder: str, ttl_seconds: int) -> None:
    """Set a live hold to expire ``ttl_seconds`` from now (a pending order's, kept until fulfilled)."""
    get_redis().zadd(EXPIRY_KEY, {holder: time.time() + ttl_seconds}, xx=True)


@dataclass
class Transfer:
    lines: dict[int, int]  # product id -> units moved; empty if there was nothing live to move
    released: list[Change]  # what an expired source gave back instead


def transfer_hold(source: str, target: str, *, ttl_seconds: int, max_lifetime_seconds: int = 0) -> Transfer:
    """Move ``source``'s live reservation to ``target`` (merging if ``target``
    already holds something). An expired source is released instead. The
    target expires in ``ttl_seconds``, never past ``max_lifetime_seconds``
    (0: no limit) after the moved hold began."""
    now = time.time()
    outcome, *rest = scripts.TRANSFER(
        keys=[hold_key(source), EXPIRY_KEY, hold_key(target)], args=[source, target, now, ttl_seconds, max_lifetime_seconds]
    )
    if outcome == "ok":
        flat = rest[0]
        return Transfer({int(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}, [])
    return Transfer({}, _changes(rest[0]) if outcome == "expired" else [])


def held_by(holder: str) -> dict[int, int]:
    """What a holder has reserved (product id -> units), expired or not."""
    return {int(p): int(q) for p, q in get_redis().hgetall(hold_key(holder)).items()}


def hold_expiry(holder: str) -> float | None:
    score = get_redis().zscore(EXPIRY_KEY, holder)
    return float(score) if score is not None else None


def holders_expiring_after(moment: float, *, prefix: str, batch: int = 1000) -> Iterator[list[str]]:
    """Holders named ``prefix...`` whose hold lasts past ``moment``, in batches
    (pages of the expiry index: no blocking scan). A hold that changes during
    the walk may be missed or seen twice; callers run again later."""
    client = get_redis()
    start = 0
    while True:
        page = client.zrangebyscore(EXPIRY_KEY, f"({moment}", "+inf", start=start, num=batch)
        if not page:
            return
        matching = [holder for holder in page if holder.startswith(prefix)]
        if matching:
            yield matching
        if len(page) < batch:
            return
        start += batch


def expired_holders(*, now: float | None = None, limit: int = 500) -> list[str]:
    return get_redis().zrangebyscore(EXPIRY_KEY, "-inf", now if now is not None else time.time(), start=0, num=limit)


def available(product_ids: Iterable[int]) -> dict[int, int]:
    """Units available per product, in one round trip; missing keys are rebuilt."""
    pids = list(product_ids)
    if not pids:
        return {}
    pipe = get_redis().pipeline(transaction=False)
    for pid in pids:
        pipe.hmget(product_key(pid), "on_hand", "reserved")
    result: dict[int, int] = {}
    missing: list[int] = []
    for pid, (on_hand, reserved) in zip(pids, pipe.execute(), strict=True):
        if on_hand is None:
            missing.append(pid)
        else:
            result[pid] = int(on_hand) - int(reserved or 0)
    if missing:
        for change in rebuild_from_database(missing):
            result[change.product_id] = change.after
    return result


def stored_state(product_ids: Iterable[int]) -> dict[int, tuple[int, int, int] | None]:
    """Raw ``(on_hand, version, reserved)`` per product, None where missing (for reconciliation)."""
    pids = list(product_ids)
    pipe = get_redis().pipeline(transaction=False)
    for pid in pids:
        pipe.hmget(product_key(pid), "on_hand", "version", "reserved")
    return {
        pid: None if values[0] is None else (int(values[0]), int(values[1]), int(values[2] or 0))
        for pid, values in zip(pids, pipe.execute(), strict=True)
    }


def reserved_by_holds() -> dict[int, int]:
    """Sum of every live hold per product, by scanning the holds (for reconciliation)."""
    redis = get_redis()
    totals: dict[int, int] = {}
    for key in redis.scan_iter(match=HOLD_KEY_PATTERN, count=500):
        for pid, qty in redis.hgetall(key).items():
            totals[int(pid)] = totals.get(int(pid), 0) + int(qty)
    return totals


def set_reserved(product_id: int, reserved: int) -> None:
    """Repair a product's reserved counter (reconciliation only)."""
    get_redis().hset(product_key(product_id), "reserved", reserved)


def force_on_hand(values: Mapping[int, OnHand]) -> None:
    """Overwrite on-hand values and versions, whatever version Redis holds
    (reconciliation only: PostgreSQL is the truth even if Redis claims newer)."""
    pipe = get_redis().pipeline(transaction=False)
    for pid, value in values.items():
        pipe.hset(product_key(pid), mapping={"on_hand": value.on_hand, "version": value.version})
    pipe.execute()
