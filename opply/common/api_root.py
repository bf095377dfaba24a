"""``GET /api/``: where everything is, for a newcomer with curl (DRF's browsable root, in JSON)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

# module -> entry point -> URL name (resolved per request, so the links carry
# the host and scheme the client used).
ENTRY_POINTS: dict[str, dict[str, str]] = {
    "identity": {
        "register": "identity:register",
        "token": "identity:token",
        "token_refresh": "identity:token-refresh",
        "token_revoke": "identity:token-revoke",
        "customers": "identity:customer-list",
        "me": "identity:customer-me",
    },
    "catalog": {
        "categories": "catalog:category-list",
        "products": "catalog:product-list",
    },
    "orders": {
        "cart": "orders:cart",
        "cart_items": "orders:cart-items",
        "checkout": "orders:cart-checkout",
        "orders": "orders:order-list",
        "staff_orders": "orders:staff-order-list",
    },
    "docs": {"docs": "docs", "schema": "schema"},
    "health": {"live": "health-live", "ready": "health-ready"},
}


class ApiRootApi(APIView):
    """Links to each module's entry points, the interactive docs and the OpenAPI schema."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        operation_id="api_root",
        summary="Links to every module's entry points and to the docs",
        responses={
            200: inline_serializer(
                "ApiRoot",
                {module: serializers.DictField(child=serializers.URLField()) for module in ENTRY_POINTS},
            )
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                module: {name: reverse(url_name, request=request) for name, url_name in links.items()}
                for module, links in ENTRY_POINTS.items()
            }
        )
