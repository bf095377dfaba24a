"""Test helpers of identity (imported by tests only)."""

from __future__ import annotations

from rest_framework.test import APIClient

from opply.identity.tokens import IssuedRefreshToken


def bearer_client(user) -> APIClient:  # type: ignore[no-untyped-def]
    """An API client that authenticates as ``user`` with a fresh access token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {IssuedRefreshToken.for_user(user).access_token}")
    return client
