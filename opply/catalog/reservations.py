"""The one door to stock: reservations, their commit, and availability.

Other apps (orders, and the catalog's own tasks) hold, sell and give back
stock only through this module. It speaks public product UUIDs; the
availability store (:mod:`opply.catalog.inventory`, internal ids) and the
stock rows (:mod:`opply.catalog.stock`) stay behind it. Every function that
changes availability also publishes the change (the list's ``in_stock``
flag, when availability crosses zero), so no caller has to remember to.

The rules it carries:

- Reserving is one atomic script in Redis: every line or none.
- Committing is one transaction in PostgreSQL, owned by the caller: one
  conditional update per product in product-id order plus the ledger rows
  (:func:`opply.catalog.stock.apply_stock_movements`). Redis learns the new
  on-hand values after the commit, by version.
- A hold is released on any failure (:class:`Hold`): nothing stays held.
- Redis down: :class:`StoreUnavailable` for what cannot work without it
  (carts), PostgreSQL alone for what can (orders, availability reads).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal
from uuid import UUID

from django.db import DatabaseError, transaction
from redis.exceptions import RedisError

from opply.catalog import availability, inventory
from opply.catalog.keys import CART_HOLDER_PREFIX, ORDER_HOLDER_PREFIX
from opply.catalog.listing import refresh_after_change, refresh_in_stock
from opply.catalog.models import Product, Stock
from opply.catalog.stock import (
    Movement,
    OnHand,
    StockAboveLimit,
    StockShortage,
    apply_stock_movements,
    on_hand_batches,
    write_ledger,
)

__all__ = [
    "BatchOutcome",
    "Held",
    "Hold",
    "LinesCap",
    "OutOfStock",
    "Release",
    "Reservation",
    "Sale",
    "Shortage",
    "StockAboveLimit",
    "StoreUnavailable",
    "UnitsCap",
    "available",
    "cart_holder",
    "expired_holders",
    "held_by",
    "long_order_holds",
    "order_holder",
    "publish_on_hand",
    "rebuild",
    "rebuild_all",
    "register_pending_holds",
    "release",
    "release_quietly",
    "reserve",
    "restock",
    "sell_holds",
    "settle",
    "transfer",
]

logger = logging.getLogger(__name__)


def cart_holder(customer_id: UUID) -> str:
    """The holder of a customer's cart."""
    return f"{CART_HOLDER_PREFIX}{customer_id}"


def order_holder(name: object) -> str:
    """The holder of an order being placed (named after the order or an idempotency key)."""
    return f"{ORDER_HOLDER_PREFIX}{name}"


# --- Errors and results ----------------------------------------------------------------


class StoreUnavailable(Exception):
    """The availability store (Redis) did not answer; nothing was changed by this call."""


@dataclass(frozen=True)
class Shortage:
    product_id: UUID
    requested: int
    available: int


class OutOfStock(Exception):
    """Some lines cannot be had; nothing was reserved or sold.

    ``decided_by`` is ``"store"`` (Redis refused the reservation) or
    ``"database"`` (PostgreSQL's conditional update refused the sale).
    """

    def __init__(self, shortages: list[Shortage], *, decided_by: Literal["store", "database"]) -> None:
        super().__init__(f"short: {[s.product_id for s in shortages]}")
        self.shortages = shortages
        self.decided_by = decided_by


@dataclass(frozen=True)
class UnitsCap:
    """A hold may keep at most ``cap`` units of one product (it holds ``held``)."""

    product_id: UUID
    cap: int
    held: int


@dataclass(frozen=True)
class LinesCap:
    """A hold may keep at most ``cap`` different products."""

    cap: int


@dataclass
class Reservation:
    """What :func:`reserve` did. ``ok`` False: nothing changed (short or over a cap)."""

    holder: str
    ok: bool
    ttl_seconds: int
    # product -> units available now, for every line that was short
    short: dict[UUID, int] = field(default_factory=dict)
    cap: UnitsCap | LinesCap | None = None
    # product -> units this call reserved (negative: released)
    deltas: dict[UUID, int] = field(default_factory=dict)

    def undo(self) -> None:
        """Take back a change that succeeded in Redis but whose request failed.
        Never raises: a hold that cannot be undone expires with its holder."""
        reverse = {product: -delta for product, delta in self.deltas.items() if delta}
        if not self.ok or not reverse:
            return
        ids = _ids(reverse)
        try:
            undone = inventory.adjust_hold(self.holder, {ids[p]: q for p, q in reverse.items()}, ttl_seconds=self.ttl_seconds)
        except RedisError:
            logger.error("could not undo %s on %s: the hold stays until it expires", reverse, self.holder)
            return
        if not undone.ok:
            logger.error("could not undo %s on %s (short: %s)", reverse, self.holder, undone.short)
        _publish(undone.changes)


@dataclass(frozen=True)
class Release:
    released: bool  # False: nothing to release, another caller released it first, or it was renewed
    units: int  # units given back to stock


# --- Public ids <-> internal ids -----------------------------------------------------------
# A product's internal id never changes and is never reused, so the mapping
# is kept per process (bounded): the hot path does not ask PostgreSQL again.

_ID_CACHE_SIZE = 50_000
_id_of: dict[UUID, int] = {}
_uuid_of: dict[int, UUID] = {}


def _remember(rows: Iterable[tuple[int, UUID]]) -> None:
    if len(_id_of) > _ID_CACHE_SIZE:
        _id_of.clear()
        _uuid_of.clear()
    for pid, public_id in rows:
        _id_of[public_id] = pid
        _uuid_of[pid] = public_id


def _ids(public_ids: Iterable[UUID]) -> dict[UUID, int]:
    """Internal ids of the products that exist (from the primary: a product
    created a moment ago may not be on the replica yet)."""
    wanted = set(public_ids)
    missing = [p for p in wanted if p not in _id_of]
    if missing:
        _remember(Product.objects.using("default").filter(public_id__in=missing).values_list("id", "public_id"))
    return {p: _id_of[p] for p in wanted if p in _id_of}


def _uuids(product_ids: Iterable[int]) -> dict[int, UUID]:
    wanted = set(product_ids)
    missing = [p for p in wanted if p not in _uuid_of]
    if missing:
        _remember(Product.objects.using("default").filter(id__in=missing).values_list("id", "public_id"))
    return {p: _uuid_of[p] for p in wanted if p in _uuid_of}


# --- Publishing -------------------------------------------------------------------------


def _publish(changes: list[inventory.Change]) -> None:
    """Refresh the list flag of products whose availability crossed zero (rare;
    a no-op otherwise). Never raises for a database failure: the flag is
    derived, the change that caused it already happened, and the periodic
    resync and ``inventory_reconcile`` repair a flag left stale."""
    if not changes:
        return
    try:
        refresh_after_change({c.product_id: c.before for c in changes}, {c.product_id: c.after for c in changes})
    except DatabaseError as exc:
        logger.warning("in_stock flags not refreshed (%s); the periodic resync repairs them", exc)


def _refresh_flags_quietly(product_ids: list[int]) -> None:
    """The list flag from PostgreSQL alone, when the store could not be told."""
    try:
        refresh_in_stock(product_ids)
    except DatabaseError as exc:
        logger.warning("in_stock flags of %s not refreshed (%s); the periodic resync repairs them", product_ids, exc)


def publish_on_hand(values: Mapping[int, OnHand]) -> None:
    """After a commit that changed on-hand stock without a hold (restock,
    count, cancellation): apply the values to the store by version and publish.
    If Redis is down the store keeps its older values (the periodic resync and
    the next change of each product repair them); the flag follows PostgreSQL."""
    try:
        changes = inventory.sync_on_hand(values)
    except RedisError:
        logger.warning("availability store unreachable: on-hand update for %s deferred to reconciliation", sorted(values))
        _refresh_flags_quietly(sorted(values))
        return
    _publish(changes)


def rebuild(product_ids: Iterable[int]) -> None:
    """Load these products' on-hand values from PostgreSQL into the store by
    version (missing keys are created, older ones updated, newer ones kept)
    and publish. Raises :class:`StoreUnavailable`."""
    try:
        _publish(inventory.rebuild_from_database(list(product_ids)))
    except RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc


def rebuild_all(*, batch: int = 1000) -> Iterator[list[int]]:
    """:func:`rebuild` for every product, in batches of ``batch`` (product-id
    order); yields each batch's ids once it is applied. Raises :class:`StoreUnavailable`."""
    for values in on_hand_batches(batch):
        try:
            _publish(inventory.sync_on_hand_restoring(values))
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc
        yield list(values)


def register_pending_holds(source: Callable[[list[UUID]], list[tuple[str, dict[UUID, int]]]], *, any_pending: Callable[[], bool]) -> None:
    """Holds that PostgreSQL knows of and a rebuilt store must hold again
    (orders accepted but not yet fulfilled): ``source`` maps product ids to
    ``[(holder, {product id: units})]``. Registered once, at start-up.

    ``any_pending`` is asked first: when nothing is pending (always, in sync
    mode) a cold key costs no lookup of public ids on the primary, so the
    catalog's reads stay on the replica."""

    if source in _pending_sources:
        return
    _pending_sources.append(source)

    def by_internal_id(product_ids: list[int]) -> list[tuple[str, dict[int, int]]]:
        if not any_pending():
            return []
        uuids = _uuids(product_ids)
        ids = {public_id: pid for pid, public_id in uuids.items()}
        return [(holder, {ids[p]: q for p, q in lines.items() if p in ids}) for holder, lines in source(list(uuids.values()))]

    inventory.register_pending_holds(by_internal_id)


_pending_sources: list[Callable[[list[UUID]], list[tuple[str, dict[UUID, int]]]]] = []


def _rebuild_quietly(product_ids: list[int]) -> None:
    try:
        rebuild(product_ids)
    except StoreUnavailable:
        logger.warning("availability store unreachable: resync of %s left to reconciliation", product_ids)


# --- Reads -----------------------------------------------------------------------------


def available(product_ids: Iterable[UUID]) -> dict[UUID, int]:
    """Units available per product now: the store, or PostgreSQL's on-hand stock
    (the primary) if Redis is down (:func:`opply.catalog.availability.available_quantities`)."""
    ids = _ids(product_ids)
    by_id = availability.available_quantities(ids.values(), primary=True)
    return {public_id: by_id[pid] for public_id, pid in ids.items() if pid in by_id}


@dataclass(frozen=True)
class Held:
    """What a hold keeps: product -> units."""

    lines: dict[UUID, int]
    # internal ids of held products that PostgreSQL no longer has (data
    # restored from an older backup, a product removed by hand): never
    # silently dropped from a checkout
    vanished: list[int] = field(default_factory=list)
    expires_at: float | None = None  # epoch seconds (held_by only)

    def __bool__(self) -> bool:
        return bool(self.lines or self.vanished)


def held_by(holder: str, *, expired_too: bool = False) -> Held:
    """What a hold keeps; an expired one reads as empty unless ``expired_too``.
    Raises :class:`StoreUnavailable`."""
    try:
        expiry = inventory.hold_expiry(holder)
        live = expiry is not None and expiry > time.time()
        held = inventory.held_by(holder) if live or expired_too else {}
    except RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    return _held(held, expiry if live else None)


def _held(held: Mapping[int, int], expires_at: float | None = None) -> Held:
    uuids = _uuids(held)
    return Held(
        {uuids[pid]: qty for pid, qty in sorted(held.items()) if pid in uuids},
        sorted(set(held) - set(uuids)),
        expires_at,
    )


# --- Holding -------------------------------------------------------------------------


def reserve(
    holder: str,
    quantities: Mapping[UUID, int],
    *,
    ttl_seconds: int,
    max_lifetime_seconds: int = 0,
    absolute: bool = False,
    max_units_per_product: int = 0,
    max_lines: int = 0,
) -> Reservation:
    """Change what ``holder`` reserves: by ``quantities`` (+reserve / -release)
    or, with ``absolute``, to those quantities. All or nothing: a short line or
    a cap changes nothing (``ok`` False). A change renews the hold for
    ``ttl_seconds``, never past ``max_lifetime_seconds`` (0: no limit) after its
    first reservation. Publishes what changed, including what an expired hold
    gave back first. Every product must exist (look it up first).
    Raises :class:`StoreUnavailable`."""
    ids = _ids(quantities)
    unknown = set(quantities) - set(ids)
    if unknown:
        raise ValueError(f"unknown products {sorted(map(str, unknown))}")
    try:
        result = inventory.adjust_hold(
            holder,
            {ids[p]: q for p, q in quantities.items()},
            ttl_seconds=ttl_seconds,
            max_lifetime_seconds=max_lifetime_seconds,
            absolute=absolute,
            max_units_per_product=max_units_per_product,
            max_lines=max_lines,
        )
    except RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    _publish(result.expired + result.changes)
    uuids = {pid: public_id for public_id, pid in ids.items()}
    cap: UnitsCap | LinesCap | None = None
    if result.cap is not None:
        cap = UnitsCap(uuids[result.cap[1]], result.cap[2], result.cap[3]) if result.cap[0] == "units" else LinesCap(result.cap[1])
    return Reservation(
        holder=holder,
        ok=result.ok,
        ttl_seconds=ttl_seconds,
        short={uuids[pid]: units for pid, units in result.short.items()},
        cap=cap,
        # A reservation's availability fell by what it reserved (rose by what it released).
        deltas={uuids[c.product_id]: c.before - c.after for c in result.changes if c.before != c.after},
    )


def release(holder: str, *, only_if_expired: bool = False) -> Release:
    """Give back everything ``holder`` reserved (only if its time has passed,
    with ``only_if_expired``: two sweepers, or a sweeper racing a checkout or a
    renewal, release a hold at most once). Raises :class:`StoreUnavailable`."""
    try:
        released, changes = inventory.release_hold(holder, only_if_expired=only_if_expired)
    except RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    _publish(changes)
    return Release(released, sum(c.after - c.before for c in changes))


def release_quietly(holder: str) -> None:
    """:func:`release` where failing is not the caller's problem: with Redis
    down the hold expires and the sweeper gives it back once Redis answers."""
    try:
        release(holder)
    except StoreUnavailable:
        logger.warning("could not release hold %s now; the sweeper will", holder)


def transfer(source: str, target: str, *, ttl_seconds: int, max_lifetime_seconds: int = 0) -> Held:
    """Move ``source``'s live hold to ``target`` (merging into what ``target``
    holds); return the lines moved, empty if nothing live was there (an expired
    source is released and published instead). ``target`` expires in
    ``ttl_seconds``, never past ``max_lifetime_seconds`` after the moved hold
    began. Raises :class:`StoreUnavailable`."""
    try:
        moved = inventory.transfer_hold(source, target, ttl_seconds=ttl_seconds, max_lifetime_seconds=max_lifetime_seconds)
    except RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    _publish(moved.released)
    return _held(moved.lines)


def long_order_holds(*, lasting_over_seconds: float, batch: int = 1000) -> Iterator[list[str]]:
    """Order holders whose hold lasts more than ``lasting_over_seconds`` from
    now (kept or restored for an accepted order, not a request's short hold
    in flight), in batches. Raises :class:`StoreUnavailable`."""
    try:
        yield from inventory.holders_expiring_after(time.time() + lasting_over_seconds, prefix=ORDER_HOLDER_PREFIX, batch=batch)
    except RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc


def expired_holders(*, limit: int = 500) -> list[str]:
    """Holders whose time has passed (for the sweeper). Raises :class:`StoreUnavailable`."""
    try:
        return inventory.expired_holders(limit=limit)
    except RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc


class Hold:
    """A hold owned for the span of one use case: acquire, sell, or give back.

    ::

        with reservations.Hold(holder, lines, ttl_seconds=120) as hold:   # reserves
            with transaction.atomic(durable=True):
                ...                                   # the order's own rows
                hold.sell(reason="order", reference=str(order_id))
        # committed: Redis learns the sale; any failure: the hold is released

    ``adopt=True`` takes over a hold that already covers ``lines`` (a cart
    moved to the order): it is sold on success and left to its owner on
    failure. Without it the lines are reserved on entering (to these
    quantities, so that a retry reusing a dead attempt's holder holds each
    unit once), and released on any failure. Redis down: nothing is reserved
    and PostgreSQL alone decides. Raises :class:`OutOfStock` on entering (the
    store refused) or leaving (PostgreSQL refused; the transaction was rolled
    back and the hold released).
    """

    def __init__(self, holder: str, lines: Mapping[UUID, int], *, ttl_seconds: int, adopt: bool = False) -> None:
        self.holder = holder
        self.lines = dict(lines)
        self.ttl_seconds = ttl_seconds
        self.adopt = adopt
        self._owned = False  # whether a failure releases it here
        self._ids: dict[UUID, int] = {}
        self._sold: dict[int, OnHand] | None = None
        self._kept_for: int | None = None

    def __enter__(self) -> Hold:
        self._ids = _ids(self.lines)
        if set(self._ids) != set(self.lines):
            raise ValueError(f"unknown products {sorted(str(p) for p in set(self.lines) - set(self._ids))}")
        if self.adopt:
            return self
        try:
            reservation = reserve(self.holder, self.lines, ttl_seconds=self.ttl_seconds, absolute=True)
        except StoreUnavailable:
            logger.warning("availability store unreachable: %s is decided by PostgreSQL alone", self.holder)
            return self
        if not reservation.ok:
            raise OutOfStock(
                [Shortage(p, self.lines[p], reservation.short[p]) for p in self.lines if p in reservation.short], decided_by="store"
            )
        self._owned = True
        return self

    @property
    def in_store(self) -> bool:
        """Whether the availability store holds these lines (False: Redis was
        down on entering and PostgreSQL alone decides)."""
        return self._owned or self.adopt

    def keep(self, *, ttl_seconds: int) -> None:
        """Leave the lines held after the use case (an order accepted but not yet
        fulfilled): on success the hold is renewed for ``ttl_seconds`` once the
        caller's transaction committed, and whoever fulfils it later sells or
        releases it (:func:`sell_holds`, :func:`settle`); on failure it is
        released like any other."""
        self._kept_for = ttl_seconds

    def sell(self, *, reason: str, reference: str) -> None:
        """Take the lines out of on-hand stock, inside the caller's transaction
        (conditional updates in product-id order, ledger rows). The store
        learns it when the hold is left, after the commit."""
        movements = [Movement(self._ids[p], -q) for p, q in self.lines.items()]
        self._sold = apply_stock_movements(movements, reason=reason, reference=reference)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None and self._sold is not None:
            self._commit_to_store()
            return
        if exc is None and self._kept_for is not None:
            try:
                inventory.renew_hold(self.holder, self._kept_for)
            except RedisError:
                # It lapses after its short time to live and is swept; its
                # units can then be sold twice in the store, and PostgreSQL
                # rejects whichever order comes second.
                logger.warning("could not renew the kept hold %s; it lapses with its short time to live", self.holder)
            return
        # Whatever failed (a short line, a timeout, a dropped connection, a
        # bug), nothing may stay held.
        if self._owned:
            release_quietly(self.holder)
        if isinstance(exc, StockShortage):
            # Redis thought there was enough: bring it back in line with PostgreSQL.
            ids = sorted(self._ids.values())
            _rebuild_quietly(ids)
            now = available(self.lines)
            shortages = [Shortage(p, q, max(now.get(p, 0), 0)) for p, q in self.lines.items() if q > now.get(p, 0)]
            raise OutOfStock(shortages, decided_by="database") from None

    def _commit_to_store(self) -> None:
        # Committed: nothing here may fail the use case; the store and the
        # list flags catch up on their own if they cannot be told now.
        sold = {self._ids[p]: (q, self._sold[self._ids[p]]) for p, q in self.lines.items()}  # type: ignore[index]
        try:
            changes = inventory.commit_hold(self.holder, sold)
        except RedisError:
            logger.warning("availability store unreachable after selling %s; reconciliation will apply it", self.holder)
            # A product that sold out while Redis is down must leave the list now.
            _refresh_flags_quietly(sorted(sold))
            return
        _publish(changes)


def restock(lines: Mapping[UUID, int], *, reason: str, reference: str) -> None:
    """Put units back on hand (a cancelled order's lines), inside the caller's
    transaction, with ledger rows; the store learns it after the commit.
    Raises :class:`StockAboveLimit` (the caller's transaction rolls back)."""
    ids = _ids(lines)
    if set(ids) != set(lines):
        raise ValueError(f"unknown products {sorted(str(p) for p in set(lines) - set(ids))}")
    committed = apply_stock_movements([Movement(ids[p], q) for p, q in lines.items()], reason=reason, reference=reference)
    transaction.on_commit(lambda: publish_on_hand(committed), using="default")


# --- Selling many holds at once (asynchronous fulfilment) ----------------------------------


@dataclass(frozen=True)
class Sale:
    """One holder's lines to sell, with the ledger reference (the order's id)."""

    holder: str
    lines: Mapping[UUID, int]
    reference: str


@dataclass(frozen=True)
class BatchOutcome:
    sold: list[Sale]
    refused: list[tuple[Sale, list[Shortage]]]
    _tell: Callable[[], None] = field(default=lambda: None, repr=False)

    def tell_store(self) -> None:
        """After the commit: the store learns the batch (see :func:`sell_holds`).
        Raises :class:`StoreUnavailable`; calling it again is harmless."""
        self._tell()


def sell_holds(sales: Sequence[Sale], *, reason: str = "order", tell_store_on_commit: bool = True) -> BatchOutcome:
    """Sell many holds in the caller's transaction (on the primary).

    The stock rows of every product involved are locked in product-id order;
    the sales are then taken in the order given, each one whole or refused
    (PostgreSQL has less than its lines need). One conditional update per
    product for the total sold and the ledger rows of every sold line, in one
    statement each. After the commit the store learns it: sold holds are
    committed (by version), refused ones released; both are published.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("sell_holds must run inside a transaction")
    ids = _ids(p for sale in sales for p in sale.lines)
    pids = sorted(ids.values())
    on_hand = dict(
        Stock.objects.using("default")
        .select_for_update()
        .filter(product_id__in=pids)
        .order_by("product_id")
        .values_list("product_id", "on_hand")
    )
    sold: list[Sale] = []
    refused: list[tuple[Sale, list[Shortage]]] = []
    totals: dict[int, int] = {}
    for sale in sales:
        short = [
            Shortage(p, q, max(on_hand.get(ids[p], 0) - totals.get(ids[p], 0), 0) if p in ids else 0)
            for p, q in sale.lines.items()
            if p not in ids or q > on_hand.get(ids[p], 0) - totals.get(ids[p], 0)
        ]
        if short:
            refused.append((sale, short))
            continue
        sold.append(sale)
        for p, q in sale.lines.items():
            totals[ids[p]] = totals.get(ids[p], 0) + q
    ledger = [(Movement(ids[p], -q), sale.reference) for sale in sold for p, q in sale.lines.items()]
    write_ledger([m for m, _ in ledger], reason=reason, reference=[ref for _, ref in ledger])
    committed = apply_stock_movements([Movement(pid, -q) for pid, q in totals.items()], reason=reason, ledger_written=True)
    sold_ids = [(sale.holder, {ids[p]: q for p, q in sale.lines.items()}) for sale in sold]
    refused_holders = [sale.holder for sale, _ in refused]
    outcome = BatchOutcome(sold, refused, _tell=lambda: _after_batch(sold_ids, committed, refused_holders))
    if tell_store_on_commit:
        transaction.on_commit(lambda: _after_batch_quietly(outcome), using="default")
    return outcome


def _after_batch(sold: list[tuple[str, dict[int, int]]], committed: dict[int, OnHand], refused: list[str]) -> None:
    """The store learns a committed batch: sold holds committed (new on-hand by
    version), refused ones released. Raises :class:`StoreUnavailable` (each
    step is idempotent: the caller may simply call it again)."""
    try:
        changes = inventory.commit_holds([(holder, {pid: (q, committed[pid]) for pid, q in lines.items()}) for holder, lines in sold])
        for holder in refused:
            changes += inventory.release_hold(holder)[1]
    except RedisError as exc:
        _refresh_flags_quietly(sorted(committed))
        raise StoreUnavailable(str(exc)) from exc
    _publish(changes)


def _after_batch_quietly(outcome: BatchOutcome) -> None:
    try:
        outcome.tell_store()
    except StoreUnavailable:
        logger.warning("availability store unreachable after a batch; reconciliation will apply it")


def settle(holders: Sequence[str], product_ids: Iterable[UUID]) -> None:
    """Finish what a batch could not tell the store (Redis was down after its
    commit): release whatever ``holders`` still hold and load the products'
    committed on-hand values by version. Idempotent. Raises :class:`StoreUnavailable`."""
    ids = _ids(product_ids)
    try:
        left = inventory.holders_present(holders)
        if not left:
            return
        changes: list[inventory.Change] = []
        for holder in left:
            changes += inventory.release_hold(holder)[1]
        changes += inventory.rebuild_from_database(sorted(ids.values()))
    except RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    _publish(changes)
