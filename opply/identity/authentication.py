"""Bearer-JWT authentication without a database query per request.

Access tokens carry what requests need to know about the caller: the public
id (``sub``), ``is_staff`` and ``auth_time`` (when the token chain was
issued, to the microsecond). The caller becomes a :class:`ClaimsUser` built
from those claims, so a cached catalog page never touches PostgreSQL.

What a stateless token cannot know, Redis tells in the same single round
trip (MGET):

* ``auth:revoked-before:<public id>``: set when an account is deactivated,
  changes password or staff status. Tokens issued before it are refused, so
  such a change takes effect at once, not when the token expires.
* ``replica-pin:<public id>``: the caller wrote within the last seconds, so
  this request reads from the primary (read-your-writes).

If Redis is down, the user is loaded from the database instead (and must be
active): slower, never less safe.

Verifying a token's signature and claims is pure computation on a string
that never changes, so each process remembers the tokens it verified
(:class:`VerifiedTokens`) and only checks their expiry again: a client sends
the same access token on every request for its lifetime, and PyJWT's decode
(base64, JSON, HMAC, claim checks) was a tenth of a cached page's cost.
Revocation is still asked of Redis on every request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from redis.exceptions import RedisError
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from opply.common import prefetch as prefetching
from opply.common.db.routing import pin_key, pin_to_primary, reading_primary
from opply.common.memo import BoundedMemo
from opply.common.redis import get_redis, round_trip
from opply.common.throttling import UserRateThrottle, counting, current_window

logger = logging.getLogger(__name__)


class ClaimsUser(TokenUser):
    """The authenticated caller, as its access token describes it."""

    def __init__(self, token: Token, public_id: UUID | None = None) -> None:
        super().__init__(token)
        if public_id is not None:
            # The subject, already parsed when the token was verified: the
            # cached property's value.
            self.__dict__["public_id"] = public_id

    @cached_property
    def public_id(self) -> UUID:
        return UUID(str(self.id))

    @cached_property
    def is_staff(self) -> bool:
        return bool(self.token.get("is_staff", False))


def claims_are_valid(token: Any) -> bool:
    """The claims our code relies on have the types it expects.

    A token is signed by us, so this only fails if the signing key leaked or
    a token from another issuer shares it; even then the answer must be a 401,
    never a 500 from ``UUID("not-a-uuid")`` deep in a view.
    """
    subject, jti = token.get(api_settings.USER_ID_CLAIM), token.get(api_settings.JTI_CLAIM)
    if not isinstance(subject, str) or not isinstance(jti, str) or not 0 < len(jti) <= 255:
        return False
    try:
        UUID(subject)
    except ValueError:
        return False
    auth_time, is_staff = token.get("auth_time", 0), token.get("is_staff", False)
    return isinstance(auth_time, int | float) and not isinstance(auth_time, bool) and isinstance(is_staff, bool)


def revoked_key(public_id: str) -> str:
    return f"auth:revoked-before:{public_id}"


def revoke_issued_tokens(public_id: UUID | str) -> None:
    """Refuse every access token issued to this account until now.

    Kept as long as an access token lives; refresh tokens are blacklisted in
    the database by the caller. Raises ``RedisError`` if Redis is down: the
    caller decides whether that may be ignored.
    """
    lifetime = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()) + 60
    get_redis().set(revoked_key(str(public_id)), repr(time.time()), ex=lifetime)


@dataclass(frozen=True)
class VerifiedToken:
    token: Token
    public_id: UUID  # the subject claim, parsed once


class VerifiedTokens:
    """Access tokens this process has verified (signature, type, claims), by
    their exact text, for as long as they are unexpired.

    Equal text means an equal verdict, so a hit skips the verification and
    checks only ``exp`` (against the clock, as the verification would). A
    bounded map: past ``size`` tokens the oldest is forgotten (and simply
    verified again if it comes back). The signing key changes only with a
    restart, which empties it.
    """

    def __init__(self, size: int = 2048) -> None:
        self._tokens: BoundedMemo[bytes, VerifiedToken] = BoundedMemo(size)

    def get(self, raw: bytes) -> VerifiedToken | None:
        verified = self._tokens.get(raw)
        if verified is None:
            return None
        if verified.token.get("exp", 0) <= time.time():
            self._tokens.forget(raw)
            return None
        return verified

    def add(self, raw: bytes, token: Token) -> VerifiedToken:
        """Remember a token whose signature and claims (:func:`claims_are_valid`) were checked."""
        verified = VerifiedToken(token, UUID(token[api_settings.USER_ID_CLAIM]))
        self._tokens.put(raw, verified)
        return verified


class JWTAuthentication(authentication.JWTAuthentication):
    verified = VerifiedTokens()

    def __init__(self) -> None:
        # Not simplejwt's: it looks the user model up per instance, and DRF
        # makes an instance per request (see user_model).
        pass

    @property
    def user_model(self) -> Any:
        """The user model, for simplejwt's get_user (only when Redis is down)."""
        return get_user_model()

    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        header = self.get_header(request)
        raw_token = self.get_raw_token(header) if header is not None else None
        if raw_token is None:
            return None
        verified = self.verified.get(raw_token)
        if verified is None:
            token = self.get_validated_token(raw_token)
            if not claims_are_valid(token):
                raise AuthenticationFailed("Token contained no recognizable user identification", code="token_not_valid")
            verified = self.verified.add(raw_token, token)
        return self.user_for_token(request, verified), verified.token

    def user_for_token(self, request: Request, verified: VerifiedToken) -> Any:
        token = verified.token
        # Canonical text: the form revocation and pins are written under.
        public_id = str(verified.public_id)
        user = ClaimsUser(token, verified.public_id)
        # One round trip: revocation, read-your-writes pin, this request's
        # count for the per-user rate limit, and the view's own read if it
        # asks for one (opply/common/prefetch.py).
        window = current_window(UserRateThrottle.scope, public_id)
        prefetch = prefetching.requested(request, user)
        commands: list[tuple[Any, ...]] = [("MGET", pin_key(public_id), revoked_key(public_id))]
        if window is not None:
            commands += counting(window)
        if prefetch is not None:
            commands.append(prefetch.command)
        try:
            # Errors come back as values: one the view's read met (a script
            # Redis forgot) is the view's to handle, not a failed check.
            results = round_trip(commands)
            for result in results[: 3 if window is not None else 1]:
                if isinstance(result, RedisError):
                    raise result
        except RedisError:
            logger.warning("Redis unreachable: authenticating against the database")
            # The primary: an account made or deactivated a moment ago is judged right.
            with reading_primary():
                return self.get_user(token)
        pinned, revoked_before = results[0]
        if revoked_before is not None and float(token.get("auth_time", 0)) <= float(revoked_before):
            raise AuthenticationFailed("This token was revoked; log in again.", code="token_revoked")
        if window is not None:
            request.counted_windows = {window.key: results[1]}
        if prefetch is not None:
            prefetching.deliver(request, prefetch, results[-1])
        if pinned:
            pin_to_primary()
        return user
