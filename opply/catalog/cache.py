"""Cache-aside for product pages, invalidated by a catalog version.

Every catalog write bumps the version instead of hunting for keys: the next
read builds a new key and misses, old pages simply age out. The cache may be
down: every function here then degrades to "miss" and the database answers.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from django.core.cache import cache

VERSION_KEY = "catalog:version"
PAGE_TIMEOUT_SECONDS = 300


def catalog_version() -> str | None:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY)
    return version


def bump_catalog_version() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def page_key(version: str, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"catalog:page:{version}:{digest}"


def get_page(key: str) -> dict[str, Any] | None:
    return cache.get(key)


def set_page(key: str, page: dict[str, Any]) -> None:
    cache.set(key, page, timeout=PAGE_TIMEOUT_SECONDS)
