"""The catalog's Redis key layout, in one place (Python and Lua read it here).

The availability store (must not lose data quietly):

``inv:{p<id>}``   hash ``on_hand`` / ``version`` / ``reserved`` per product.
                  available = on_hand - reserved. ``on_hand`` is a versioned
                  copy of the PostgreSQL row. The ``{p<id>}`` hash tag keeps
                  a product's keys in one Redis Cluster slot.
``hold:<holder>`` hash product id -> units reserved by one holder: a
                  customer's cart (``cart:<uuid>``) or an order being placed
                  (``order:<uuid>``).
``holds:expiry``  sorted set holder -> expiry time (epoch seconds).
``holds:started`` sorted set holder -> when its current hold began.

The product-list cache (may fail quietly):

``catalog:version``                    the catalog version (bumped by writes).
``catalog:tag:<version>:<tag>``        the generation of a cache tag (bumped
                                       by stock flips; opply.catalog.cache).
``catalog:page:<version>:<generation>:<digest>``  one cached page (JSON).
``catalog:count:<version>:<generation>:<digest>`` a list's count (``n:exact``).

Lua scripts get these names from :data:`LUA_CONSTANTS` (see
:mod:`opply.catalog.scripts`), so a script never spells a key itself.
"""

from __future__ import annotations

PRODUCT_KEY_PREFIX = "inv:{p"
PRODUCT_KEY_SUFFIX = "}"
HOLD_KEY_PREFIX = "hold:"
HOLD_KEY_PATTERN = HOLD_KEY_PREFIX + "*"
EXPIRY_KEY = "holds:expiry"
STARTED_KEY = "holds:started"

VERSION_KEY = "catalog:version"
PAGE_KEY_PREFIX = "catalog:page:"
TAG_KEY_PREFIX = "catalog:tag:"
COUNT_KEY_PREFIX = "catalog:count:"

CART_HOLDER_PREFIX = "cart:"
ORDER_HOLDER_PREFIX = "order:"


def product_key(product_id: int) -> str:
    return f"{PRODUCT_KEY_PREFIX}{product_id}{PRODUCT_KEY_SUFFIX}"


def hold_key(holder: str) -> str:
    return f"{HOLD_KEY_PREFIX}{holder}"


def page_key(version: str, generation: str, digest: str) -> str:
    return f"{PAGE_KEY_PREFIX}{version}:{generation}:{digest}"


def count_key(version: str, generation: str, digest: str) -> str:
    return f"{COUNT_KEY_PREFIX}{version}:{generation}:{digest}"


# Prepended to every script as Lua string constants.
LUA_CONSTANTS = {
    "PRODUCT_KEY_PREFIX": PRODUCT_KEY_PREFIX,
    "PRODUCT_KEY_SUFFIX": PRODUCT_KEY_SUFFIX,
    "STARTED_KEY": STARTED_KEY,
    "PAGE_KEY_PREFIX": PAGE_KEY_PREFIX,
    "TAG_KEY_PREFIX": TAG_KEY_PREFIX,
    "COUNT_KEY_PREFIX": COUNT_KEY_PREFIX,
}
