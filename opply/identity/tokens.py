"""JWT issue / refresh / revoke on top of simplejwt, made race-free.

simplejwt checks the blacklist and then blacklists in two statements, so two
concurrent refreshes of one token could both succeed. Here the outstanding
token's row is locked for the rotation: exactly one refresh wins, every other
use of the old token is a 401.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from opply.common.serializers import StrictCharField, StrictSerializer
from opply.identity.authentication import claims_are_valid

# Longer than any token this server issues (a few hundred characters).
MAX_TOKEN_LENGTH = 2048


class IssuedRefreshToken(RefreshToken):
    """A refresh token (and the access tokens made from it) carrying the
    claims that let requests authenticate without a database query (see
    opply.identity.authentication)."""

    @classmethod
    def for_user(cls, user):  # type: ignore[no-untyped-def]
        token = super().for_user(user)
        token["is_staff"] = bool(user.is_staff)
        token["auth_time"] = time.time()
        return token


class TokenObtainSerializer(StrictSerializer, TokenObtainPairSerializer):
    token_class = IssuedRefreshToken

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        # simplejwt's fields coerce (a number is a username) and are unbounded.
        self.fields[self.username_field] = StrictCharField(write_only=True, max_length=150)
        self.fields["password"] = StrictCharField(write_only=True, max_length=128, trim_whitespace=False, style={"input_type": "password"})


def invalid_token() -> InvalidToken:
    return InvalidToken({"detail": "Token is invalid or expired", "code": "token_not_valid"})


def parse_refresh(raw: str) -> RefreshToken:
    """A valid, unexpired, not blacklisted refresh token, or a 401 that says no more than that."""
    try:
        token = RefreshToken(raw)
    except TokenError:
        raise invalid_token() from None
    if not claims_are_valid(token):
        raise invalid_token()
    return token


class RotatingRefreshSerializer(StrictSerializer):
    refresh = StrictCharField(max_length=MAX_TOKEN_LENGTH, trim_whitespace=False)
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = parse_refresh(attrs["refresh"])
        user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: refresh.get(api_settings.USER_ID_CLAIM)}).first()
        if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed("No active account found for the given token.", "no_active_account")

        with transaction.atomic():
            jti = refresh[api_settings.JTI_CLAIM]
            outstanding = OutstandingToken.objects.select_for_update().filter(jti=jti).first()
            if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
                raise InvalidToken({"detail": "Token is blacklisted", "code": "token_not_valid"})
            BlacklistedToken.objects.create(token=outstanding)
            new_refresh = IssuedRefreshToken.for_user(user)
        return {"access": str(new_refresh.access_token), "refresh": str(new_refresh)}
