"""Cache-aside for product pages, invalidated by a catalog version and, for
stock flips, by tag.

Every catalog write bumps the version instead of hunting for keys: the next
read builds a new key and misses, old pages simply age out. Reading a page
is one round trip (``lua/read_page.lua`` reads the version, the page's tag
generation, the page under them and its live quantities). Pages are stored
as their product ids, a JSON header and their rows' rendered JSON
(:func:`encode_page`); keys as laid out in :mod:`opply.catalog.keys`.

Scoped invalidation: a product selling out (or coming back) changes only the
lists it can appear in. Each cached list carries one tag, the most selective
thing it asks for (a search: the first letters of its longest word; else a
category; else "all"), and its key includes that tag's generation. A flip
bumps the generations of the product's tags only (its words' first letters,
its category, "all"; ``lua/bump_tags.lua``), so the cached pages of unrelated
searches and categories stay. Lists that show out-of-stock products too
(staff, and ``in_stock=false``) have no tag: a flip changes nothing in them
(the quantities are laid over at read time). A list's count is cached apart
from its pages, under the same version and generation: every page of the
list shares it.

This is the cache role: it may fail quietly. If Redis is down every function
here degrades to "miss" (and a bump to a no-op, which is why pages expire
after ``PAGE_TIMEOUT_SECONDS`` whatever happens).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from opply.catalog import scripts
from opply.catalog.keys import VERSION_KEY, count_key, page_key
from opply.common.prefetch import MISSING
from opply.common.redis import get_redis

logger = logging.getLogger(__name__)

PAGE_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class CachedPage:
    version: str | None  # None: Redis is down
    page: dict[str, Any] | None  # None: a miss
    generation: str = "0"  # of the page's tag
    # Available units of the page's products, in the page's order; None
    # where a product's availability key is missing (a hit only)
    available: list[int | None] = field(default_factory=list)
    # (count, exact) of the page's list, if cached (a miss only)
    count: tuple[int, bool] | None = None


def page_digest(params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]


def read_page_command(digest: str, tag: str | None, count_digest: str) -> tuple[Any, ...]:
    """:func:`read_page`'s script as a command for another round trip
    (authentication's: opply/common/prefetch.py); its reply goes to read_page."""
    return scripts.READ_PAGE.command(keys=[VERSION_KEY], args=[digest, tag or "", count_digest])


def read_page(digest: str, tag: str | None, count_digest: str, reply: Any = MISSING) -> CachedPage:
    """The catalog version, the tag's generation and, on a hit, the page with
    its live quantities (on a miss, the list's cached count): one round trip,
    or none when the script's ``reply`` came with another one (an error
    there, such as a script Redis forgot, means asking again)."""
    try:
        if reply is MISSING or isinstance(reply, Exception):
            reply = scripts.READ_PAGE(keys=[VERSION_KEY], args=[digest, tag or "", count_digest])
        version, generation, raw, count, *stock = reply
        if version is None:
            # First read ever, or Redis restarted: start a version (another
            # process may win the race; both then use the winner's).
            get_redis().set(VERSION_KEY, uuid.uuid4().hex, nx=True)
            version = get_redis().get(VERSION_KEY)
    except RedisError:
        logger.warning("page cache unreachable: serving the list from the database")
        return CachedPage(None, None)
    if raw is None:
        return CachedPage(version, None, generation, count=None if count is None else _decode_count(count))
    return CachedPage(version, decode_page(raw), generation, stock)


def write_page(cached: CachedPage, digest: str, page: dict[str, Any], count_digest: str) -> list[int | None]:
    """Store a page under the version and generation read *before* it was
    built: a flip or write meanwhile left it under an old key, never served.
    With it, the list's count when it is not the one read with the page (it
    was counted, or made exact by the list's last page); and the page's live
    quantities are read back, all in one round trip. Returns those quantities
    in the page's order (None where a product's availability key is missing,
    or all None when Redis is down)."""
    unknown: list[int | None] = [None] * len(page["pks"])
    if cached.version is None:
        return unknown
    counted = (page["count"], page["count_exact"])
    try:
        stock = scripts.WRITE_PAGE(
            keys=[page_key(cached.version, cached.generation, digest), count_key(cached.version, cached.generation, count_digest)],
            args=[encode_page(page), PAGE_TIMEOUT_SECONDS, "" if counted == cached.count else _encode_count(*counted)],
        )
    except RedisError:
        logger.warning("page cache unreachable: page not stored")
        return unknown
    return stock


# A cached page is stored as three parts, so that neither the read script
# nor a hit decodes JSON: its product ids (the script reads their live
# quantities), its header, and its rendered rows (JSON text each, rendered
# once on the miss that built it). JSON text never holds a raw newline or
# record separator (json.dumps escapes control characters).
_LINE, _ROW = "\n", "\x1e"


def encode_page(page: dict[str, Any]) -> str:
    """``{"pks", "rows", "count", "count_exact", "next", "previous"}`` -> the stored text."""
    header = {name: page[name] for name in ("count", "count_exact", "next", "previous")}
    pks = ",".join(str(pk) for pk in page["pks"])
    return f"{pks}{_LINE}{json.dumps(header, separators=(',', ':'))}{_LINE}{_ROW.join(page['rows'])}"


def decode_page(raw: str) -> dict[str, Any]:
    pks, header, rows = raw.split(_LINE, 2)
    return {
        **json.loads(header),
        "pks": [int(pk) for pk in pks.split(",")] if pks else [],
        "rows": rows.split(_ROW) if rows else [],
    }


def _encode_count(count: int, exact: bool) -> str:
    return f"{count}:{int(exact)}"


def _decode_count(raw: str) -> tuple[int, bool]:
    count, exact = raw.split(":")
    return int(count), exact == "1"


def write_count(cached: CachedPage, digest: str, count: int, exact: bool) -> None:
    """A list's count alone (a page that is not stored: past the list's end)."""
    if cached.version is None:
        return
    try:
        get_redis().set(count_key(cached.version, cached.generation, digest), _encode_count(count, exact), ex=PAGE_TIMEOUT_SECONDS)
    except RedisError:
        logger.warning("page cache unreachable: count not stored")


def bump_tags(tags: list[str]) -> None:
    """Throw away the cached lists carrying any of these tags (stock flips)."""
    if not tags:
        return
    try:
        # A tag outlives every page stored under its generation (a page lives
        # PAGE_TIMEOUT_SECONDS at most): an expired tag restarting at 0 can
        # never bring an old page back.
        scripts.BUMP_TAGS(keys=[VERSION_KEY], args=[2 * PAGE_TIMEOUT_SECONDS, *tags])
    except RedisError:
        logger.error("page cache unreachable: tags not bumped; cached pages expire within %ss", PAGE_TIMEOUT_SECONDS)


def bump_catalog_version() -> None:
    try:
        get_redis().set(VERSION_KEY, uuid.uuid4().hex)
    except RedisError:
        logger.error("page cache unreachable: catalog version not bumped; cached pages expire within %ss", PAGE_TIMEOUT_SECONDS)
