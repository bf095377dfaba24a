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
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.http import HttpRequest
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from opply.common.redis import round_trip

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def now() -> float:
    """The clock windows are counted by (one place, so tests can pin it)."""
    return time.time()


@lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, int]:
    """``"10/min"`` -> (10, 60). The unit's first letter counts, as in DRF."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period[0]]


@dataclass(frozen=True)
class Window:
    """One client's counter for the current fixed window of a rate."""

    key: str
    limit: int
    period: int
    ends_at: float


def current_window(scope: str, ident: str) -> Window | None:
    """The window to count this request in, or None if the scope has no rate."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
    if not rate:
        return None
    limit, period = parse_rate(rate)
    window = int(now() // period)
    return Window(f"throttle:{scope}:{ident}:{window}", limit, period, float((window + 1) * period))


def counting(window: Window) -> list[tuple[Any, ...]]:
    """The commands that count a request in ``window`` (the first one's reply is the count)."""
    return [("INCR", window.key), ("EXPIRE", window.key, window.period + 1)]


class FixedWindowRateThrottle(BaseThrottle):
    scope: str = ""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def get_ident_key(self, request: Request) -> str | None:
        """The identity to count requests against, or None to not throttle."""
        raise NotImplementedError

    def allow_request(self, request: Request, view) -> bool:  # type: ignore[no-untyped-def]
        ident = self.get_ident_key(request)
        window = current_window(self.scope, ident) if ident is not None else None
        if window is None:
            return True
        # Authentication may already have counted this request in its own
        # Redis round trip (see opply.identity.authentication).
        count = getattr(request, "counted_windows", {}).get(window.key)
        if count is None:
            try:
                count = round_trip(counting(window))[0]
                if isinstance(count, RedisError):
                    raise count
            except RedisError:
                logger.warning("throttle %s skipped: Redis unavailable", self.scope)
                return True
        if count > window.limit:
            self.wait_seconds = window.ends_at - now()
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
        return user_ident(request.user) if request.user and request.user.is_authenticated else None


class LoginIPRateThrottle(FixedWindowRateThrottle):
    """Password guessing from one address, whichever usernames it tries."""

    scope = "login_ip"

    def get_ident_key(self, request: Request) -> str | None:
        return self.get_ident(request)


class LoginUsernameRateThrottle(FixedWindowRateThrottle):
    """Password guessing against one account, from however many addresses."""

    scope = "login_user"

    def get_ident_key(self, request: Request | HttpRequest) -> str | None:
        # The API's JSON body, or the admin's login form.
        data = request.data if isinstance(request, Request) else request.POST
        username = data.get("username") if hasattr(data, "get") else None
        if not isinstance(username, str) or not username.strip():
            return None
        # Counted under the form the login matches (NFKC, any case), so that
        # "OPPLY" or its full-width twin do not get a budget of their own.
        return _digest(unicodedata.normalize("NFKC", username).strip().lower())


LOGIN_THROTTLES = (LoginIPRateThrottle, LoginUsernameRateThrottle)


def login_attempt_wait(request: HttpRequest) -> float | None:
    """Count a password attempt made outside DRF (the admin's login form)
    against the very budgets of the API's token endpoint; the seconds to wait
    if it is over one of them, else None."""
    waits = []
    for throttle_class in LOGIN_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]
            waits.append(throttle.wait() or 1.0)
    return max(waits) if waits else None


def user_ident(user) -> str:  # type: ignore[no-untyped-def]
    return str(user.public_id)
