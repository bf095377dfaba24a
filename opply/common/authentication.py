from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework_simplejwt import authentication

from opply.common.db.routing import is_recent_writer, pin_to_primary


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's bearer authentication, plus read-your-writes pinning.

    A customer who wrote within the last few seconds reads from the primary
    for this whole request (see :mod:`opply.common.db.routing`).
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None and is_recent_writer(str(result[0].public_id)):
            pin_to_primary()
        return result
