"""Rate limits as fixed-window counters in Redis.

DRF's ``SimpleRateThrottle`` keeps a list of timestamps per client and pickles
it on every request: O(limit) work per call, which at 1000/min is most of a
fast endpoint's budget. A fixed window is one ``INCR`` + ``EXPIRE`` pipeline,
shared by every process. If Redis is down the limits fail open: throttling
protects the service, it must not take it down.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django_redis import get_redis_connection
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"10/min"`` -> (10, 60). The unit's first letter counts, as in DRF."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period[0]]


class FixedWindowRateThrottle(BaseThrottle):
    scope: str = ""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def get_ident_key(self, request: Request) -> str | None:
        """The identity to count requests against, or None to not throttle."""
        raise NotImplementedError

    def allow_request(self, request: Request, view) -> bool:  # type: ignore[no-untyped-def]
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        ident = self.get_ident_key(request)
        if not rate or ident is None:
            return True
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        key = f"throttle:{self.scope}:{ident}:{window}"
        try:
            pipe = get_redis_connection("default").pipeline()
            pipe.incr(key)
            pipe.expire(key, period + 1)
            count = pipe.execute()[0]
        except RedisError:
            logger.warning("throttle %s skipped: Redis unavailable", self.scope)
            return True
        if count > limit:
            self.wait_seconds = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return self.wait_seconds


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class AnonRateThrottle(FixedWindowRateThrottle):
    scope = "anon"

    def get_ident_key(self, request: Request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)


class UserRateThrottle(FixedWindowRateThrottle):
    scope = "user"

    def get_ident_key(self, request: Request) -> str | None:
        if request.user and request.user.is_authenticated:
            return str(request.user.public_id)
        return None


class LoginIPRateThrottle(FixedWindowRateThrottle):
    """Password guessing from one address, whichever usernames it tries."""

    scope = "login_ip"

    def get_ident_key(self, request: Request) -> str | None:
        return self.get_ident(request)


class LoginUsernameRateThrottle(FixedWindowRateThrottle):
    """Password guessing against one account, from however many addresses."""

    scope = "login_user"

    def get_ident_key(self, request: Request) -> str | None:
        data = request.data
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str) or not username.strip():
            return None
        return _digest(username.strip().lower())
