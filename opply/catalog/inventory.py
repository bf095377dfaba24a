"""The availability store: what customers can still buy, in Redis.

PostgreSQL holds the durable truth (``on_hand`` per product). Redis holds the
fast shared view that carts and orders reserve against:

``inv:{p<id>}``  hash ``on_hand`` / ``version`` / ``reserved`` per product.
                 available = on_hand - reserved. ``on_hand`` is a versioned
                 copy of the PostgreSQL row: a value is applied only if its
                 version is newer, so late or repeated updates never go back
                 in time, and a missing key is rebuilt from PostgreSQL.
``hold:<holder>`` hash product id -> units reserved by one holder: a
                 customer's cart (``cart:<uuid>``) or an order being placed
                 (``order:<uuid>``).
``holds:expiry`` sorted set holder -> expiry time (epoch seconds). The sweeper
                 releases what has expired; a holder's TTL is renewed on every
                 change that changes a quantity, never beyond its maximum
                 lifetime.
``holds:started`` sorted set holder -> when its current hold began (its first
                 reservation). A hold with a maximum lifetime (a cart's
                 CART_MAX_LIFETIME_SECONDS) never expires later than that
                 plus the lifetime, however often it is renewed.

Every change is one Lua script, so it is atomic: a reservation of several
lines takes all of them or none and reports what is available per line.

Hash tags: a product's keys share the ``{p<id>}`` slot. Scripts that touch
several products (a multi-line reservation, releasing a cart) need every key
on one node: this store assumes a single-shard Redis (ElastiCache with
cluster mode disabled, replicas for failover). Moving to cluster mode means
per-product scripts with compensation, behind these same functions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from opply.catalog.stock import OnHand, on_hand_of
from opply.common.redis import get_redis

EXPIRY_KEY = "holds:expiry"
STARTED_KEY = "holds:started"  # also named in _LUA_HELPERS


def product_key(product_id: int) -> str:
    return f"inv:{{p{product_id}}}"


def hold_key(holder: str) -> str:
    return f"hold:{holder}"


# --- Lua ------------------------------------------------------------------------------
# Shared helpers are prepended to every script. Product keys are derived from
# ids inside a script only where the set of products is not known in advance
# (releasing a whole hold); see the module docstring on cluster mode.

_LUA_HELPERS = """
local STARTED = 'holds:started'
local function pkey(pid) return 'inv:{p' .. pid .. '}' end

-- The expiry of a hold renewed now: ttl from now, but never past the end of
-- its maximum lifetime (0: none) counted from when the hold began.
local function renewed_expiry(holder, now, ttl, max_life)
  local started = redis.call('ZSCORE', STARTED, holder)
  if not started then
    started = now
    redis.call('ZADD', STARTED, now, holder)
  end
  local expiry = now + ttl
  if max_life > 0 then expiry = math.min(expiry, tonumber(started) + max_life) end
  return expiry
end

local function available(key)
  local v = redis.call('HMGET', key, 'on_hand', 'reserved')
  return tonumber(v[1] or '0') - tonumber(v[2] or '0')
end

-- Give back everything a holder reserved. Returns {pid, before, after, ...}.
local function release_all(hkey, holder)
  local out = {}
  local fields = redis.call('HGETALL', hkey)
  for i = 1, #fields, 2 do
    local key = pkey(fields[i])
    if redis.call('EXISTS', key) == 1 then
      local before = available(key)
      redis.call('HINCRBY', key, 'reserved', -tonumber(fields[i + 1]))
      table.insert(out, fields[i]); table.insert(out, before); table.insert(out, available(key))
    end
  end
  redis.call('DEL', hkey)
  redis.call('ZREM', KEYS[2], holder)
  redis.call('ZREM', STARTED, holder)
  return out
end

-- Apply a committed on-hand value if it is newer than the one held.
local function apply_on_hand(key, on_hand, version)
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'on_hand', on_hand, 'version', version, 'reserved', 0)
  elseif tonumber(redis.call('HGET', key, 'version')) < tonumber(version) then
    redis.call('HSET', key, 'on_hand', on_hand, 'version', version)
  end
end
"""

# KEYS: hold, expiry zset, product keys...
# ARGV: holder, now, ttl, max lifetime (0: none), max units per product (0: none),
#       max lines per hold (0: none), mode ('delta' | 'set'), n, pids..., values...
# Changes a holder's reservation per product, by a delta or to a target
# quantity ('set', computed here so that concurrent changes cannot race):
# increases reserve (all or nothing), decreases release. An expired holder
# is released first, so it starts again from nothing. Only a change of some
# quantity renews the expiry (setting what is already held does not), and
# never past the hold's maximum lifetime.
_ADJUST = (
    _LUA_HELPERS
    + """
local holder, now, ttl, max_life = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local max_units, max_lines, mode, n = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local score = redis.call('ZSCORE', KEYS[2], holder)
local expired = {}
if score and tonumber(score) <= now then expired = release_all(KEYS[1], holder) end

local missing = {}
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 + i]) == 0 then table.insert(missing, ARGV[8 + i]) end
end
if #missing > 0 then return {'missing', missing, expired} end

local short, held, deltas, lines = {}, {}, {}, redis.call('HLEN', KEYS[1])
for i = 1, n do
  local pid, delta = ARGV[8 + i], tonumber(ARGV[8 + n + i])
  local current = tonumber(redis.call('HGET', KEYS[1], pid) or '0')
  if mode == 'set' then delta = delta - current end
  held[i], deltas[i] = current, delta
  if current + delta < 0 then return {'invalid', pid, current, expired} end
  if delta > 0 and max_units > 0 and current + delta > max_units then
    return {'cap_units', pid, max_units, current, expired}
  end
  if current == 0 and delta > 0 then lines = lines + 1 end
  if current > 0 and current + delta == 0 then lines = lines - 1 end
  local avail = available(KEYS[2 + i])
  if delta > avail then table.insert(short, pid); table.insert(short, math.max(avail, 0)) end
end
if max_lines > 0 and lines > max_lines and lines > redis.call('HLEN', KEYS[1]) then
  return {'cap_lines', max_lines, expired}
end
if #short > 0 then return {'short', short, expired} end

local changes, changed = {}, false
for i = 1, n do
  local pid, delta = ARGV[8 + i], deltas[i]
  if delta ~= 0 then changed = true end
  local before = available(KEYS[2 + i])
  redis.call('HINCRBY', KEYS[2 + i], 'reserved', delta)
  if held[i] + delta == 0 then redis.call('HDEL', KEYS[1], pid) else redis.call('HSET', KEYS[1], pid, held[i] + delta) end
  table.insert(changes, pid); table.insert(changes, before); table.insert(changes, available(KEYS[2 + i]))
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], holder)
  redis.call('ZREM', STARTED, holder)
elseif changed then
  redis.call('ZADD', KEYS[2], renewed_expiry(holder, now, ttl, max_life), holder)
end
return {'ok', changes, expired}
"""
)

# KEYS: hold, expiry zset.  ARGV: holder, mode ('all' | 'expired'), now.
# 'expired' releases only if the holder's expiry has passed: two sweepers, or
# a sweeper racing a checkout, release a hold exactly once.
_RELEASE = (
    _LUA_HELPERS
    + """
if ARGV[2] == 'expired' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if not score or tonumber(score) > tonumber(ARGV[3]) then return {'skipped', {}} end
end
return {'released', release_all(KEYS[1], ARGV[1])}
"""
)

# KEYS: hold, expiry zset, product keys...
# ARGV: holder, n, pids..., quantities..., on_hands..., versions...
# After an order committed in PostgreSQL: apply the new on-hand values and
# drop what the holder had reserved for those lines (it is now sold).
_COMMIT = (
    _LUA_HELPERS
    + """
local n, changes = tonumber(ARGV[2]), {}
for i = 1, n do
  local key, pid = KEYS[2 + i], ARGV[2 + i]
  local qty, on_hand, version = tonumber(ARGV[2 + n + i]), ARGV[2 + 2 * n + i], ARGV[2 + 3 * n + i]
  local existed = redis.call('EXISTS', key) == 1
  local before = existed and available(key) or nil
  local held = tonumber(redis.call('HGET', KEYS[1], pid) or '0')
  local released = math.min(qty, held)
  if existed and released > 0 then redis.call('HINCRBY', key, 'reserved', -released) end
  if held - released > 0 then redis.call('HSET', KEYS[1], pid, held - released) else redis.call('HDEL', KEYS[1], pid) end
  apply_on_hand(key, on_hand, version)
  table.insert(changes, pid); table.insert(changes, before or available(key)); table.insert(changes, available(key))
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', STARTED, ARGV[1])
end
return changes
"""
)

# KEYS: product keys...  ARGV: n, pids..., on_hands..., versions...
# Rebuild missing keys and apply newer on-hand values (restock, count,
# cancellation, reconciliation).
_SYNC = (
    _LUA_HELPERS
    + """
local n, changes = tonumber(ARGV[1]), {}
for i = 1, n do
  local key = KEYS[i]
  local before = redis.call('EXISTS', key) == 1 and available(key) or nil
  apply_on_hand(key, ARGV[1 + n + i], ARGV[1 + 2 * n + i])
  table.insert(changes, ARGV[1 + i]); table.insert(changes, before or available(key)); table.insert(changes, available(key))
end
return changes
"""
)


# KEYS: from-hold, expiry zset, to-hold.  ARGV: from, to, now, ttl, max lifetime (0: none).
# Moves a live (unexpired, non-empty) hold to another holder: checkout claims
# a cart for the order being placed, so the sweeper can no longer release it
# and the customer can no longer change it. The hold keeps when it began (the
# earlier start if the target already held something), so moving it to an
# order and back to the cart never restarts its maximum lifetime. Returns
# the lines moved, or {'expired', changes} / {'empty'}.
_TRANSFER = (
    _LUA_HELPERS
    + """
local now, ttl, max_life = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if score and tonumber(score) <= now then return {'expired', release_all(KEYS[1], ARGV[1])} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'empty'} end
local lines = redis.call('HGETALL', KEYS[1])
for i = 1, #lines, 2 do redis.call('HINCRBY', KEYS[3], lines[i], lines[i + 1]) end
local source_started = redis.call('ZSCORE', STARTED, ARGV[1])
local target_started = redis.call('ZSCORE', STARTED, ARGV[2])
if source_started and (not target_started or tonumber(source_started) < tonumber(target_started)) then
  redis.call('ZADD', STARTED, source_started, ARGV[2])
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', STARTED, ARGV[1])
redis.call('ZADD', KEYS[2], renewed_expiry(ARGV[2], now, ttl, max_life), ARGV[2])
return {'ok', lines}
"""
)


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


def _script(source: str):  # type: ignore[no-untyped-def]
    # register_script keeps the SHA and falls back to EVAL after a restart.
    return get_redis().register_script(source)


def sync_on_hand(values: Mapping[int, OnHand]) -> list[Change]:
    """Apply committed on-hand values (creating missing keys)."""
    if not values:
        return []
    pids = sorted(values)
    args = [len(pids), *pids, *(values[p].on_hand for p in pids), *(values[p].version for p in pids)]
    return _changes(_script(_SYNC)(keys=[product_key(p) for p in pids], args=args))


def rebuild_from_database(product_ids: Iterable[int]) -> list[Change]:
    """Load on-hand values from PostgreSQL into missing (or older) keys."""
    return sync_on_hand(on_hand_of(product_ids))


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
    script = _script(_ADJUST)
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


def release_hold(holder: str, *, only_if_expired: bool = False) -> list[Change]:
    """Give back everything ``holder`` reserved (if expired, with ``only_if_expired``)."""
    return release_hold_once(holder, only_if_expired=only_if_expired)[1]


def release_hold_once(holder: str, *, only_if_expired: bool = False) -> tuple[bool, list[Change]]:
    """Like :func:`release_hold`, also telling whether this call did the release
    (False: another caller released it first, or it was renewed)."""
    outcome, flat = _script(_RELEASE)(
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
    return _changes(_script(_COMMIT)(keys=[hold_key(holder), EXPIRY_KEY, *(product_key(p) for p in pids)], args=args))


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
    outcome, *rest = _script(_TRANSFER)(
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
    for key in redis.scan_iter(match="hold:*", count=500):
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
