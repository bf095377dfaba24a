"""drf-spectacular extensions for identity's authentication and login."""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiSerializerExtension


class BearerJWTScheme(SimpleJWTScheme):
    target_class = "opply.identity.authentication.JWTAuthentication"
    name = "jwtAuth"


class StrictTokenObtainExtension(OpenApiSerializerExtension):
    """Our login serializer as it is (strict fields, no unknown ones), not as
    drf-spectacular's generic simplejwt extension describes simplejwt's."""

    target_class = "opply.identity.tokens.TokenObtainSerializer"
    priority = 1

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        serializer = self.target() if isinstance(self.target, type) else self.target
        return auto_schema._map_basic_serializer(serializer, direction)
