"""Redis Lua scripts: read from ``lua/*.lua`` once per process, called by SHA.

Each file starts with its KEYS/ARGV contract. Before a script's own text
come the key names of :mod:`opply.catalog.keys` (as Lua constants) and, for
the availability store's scripts, the helpers in ``lua/helpers.lua``. A
script is loaded into Redis on first use and again after Redis forgets it
(a restart, a failover): ``EVALSHA``, then ``SCRIPT LOAD`` on ``NOSCRIPT``.
The client is looked up per call (:func:`opply.common.redis.get_redis`), so
forked processes and tests that repoint Redis never hold a stale one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from redis.exceptions import NoScriptError

from opply.catalog.keys import LUA_CONSTANTS
from opply.common.redis import get_redis

LUA_DIR = Path(__file__).with_name("lua")
_PREAMBLE = "".join(f"local {name} = '{value}'\n" for name, value in LUA_CONSTANTS.items())


class LuaScript:
    def __init__(self, name: str, *, helpers: bool) -> None:
        body = (LUA_DIR / f"{name}.lua").read_text()
        self.name = name
        self.source = _PREAMBLE + ((LUA_DIR / "helpers.lua").read_text() if helpers else "") + body
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()

    def command(self, *, keys: list[str], args: list[Any]) -> tuple[Any, ...]:
        """The call as a command to send with others (opply.common.redis.round_trip);
        its reply is NoScriptError if Redis has not loaded the script (the
        caller then calls it directly)."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    def __call__(self, *, keys: list[str], args: list[Any]) -> Any:
        client = get_redis()
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)


# The availability store (opply.catalog.inventory).
ADJUST = LuaScript("adjust", helpers=True)
RELEASE = LuaScript("release", helpers=True)
COMMIT = LuaScript("commit", helpers=True)
SYNC = LuaScript("sync", helpers=True)
TRANSFER = LuaScript("transfer", helpers=True)
RESTORE = LuaScript("restore", helpers=True)
# The product-list cache (opply.catalog.cache).
READ_PAGE = LuaScript("read_page", helpers=False)
WRITE_PAGE = LuaScript("write_page", helpers=False)
BUMP_TAGS = LuaScript("bump_tags", helpers=False)
