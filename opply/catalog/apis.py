from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.http import Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from opply.catalog import selectors, services
from opply.catalog.filters import ORDERING_VALUES
from opply.catalog.models import MAX_PRICE, PRICE_PATTERN, Category, Product
from opply.catalog.pagination import MAX_PAGE, ProductCursorPagination
from opply.catalog.serializers import (
    CategorySerializer,
    ProductCreateSerializer,
    ProductDetailSerializer,
    ProductSerializer,
    ProductUpdateSerializer,
    StockAdjustSerializer,
    StockSerializer,
)
from opply.common import prefetch
from opply.common.absolute_urls import absolute_url
from opply.common.memo import BoundedMemo
from opply.common.pagination import MAX_PAGE_NUMBER, PageNumberPagination, parse_positive_int, single_query_value
from opply.common.permissions import IsStaff, ReadOnlyOrStaff

PRODUCT_LIST_PARAMETERS = [
    OpenApiParameter(
        "cursor",
        {"type": "string", "maxLength": 1000},
        description="Opaque position from a page's `next` or `previous` link (keyset pagination: any depth costs what the first page "
        "costs). Use it unchanged, with the same filters and ordering; a malformed one is a 400.",
    ),
    OpenApiParameter(
        "page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        description=f"1-based page number for the shallow pages a UI jumps to, up to {MAX_PAGE}; past the end is a 404, past "
        f"{MAX_PAGE} a 400 (follow the `next` cursor instead). Not together with `cursor`.",
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER},
        description="Items per page: default 20; larger values are capped at 100.",
    ),
    OpenApiParameter(
        "in_stock", bool, description="Default for customers: only products with something available. false lists everything."
    ),
    OpenApiParameter("category", {"type": "string", "maxLength": 100}, description="A category's slug or id (UUID)."),
    OpenApiParameter(
        "search",
        {"type": "string", "maxLength": 100},
        description="A product's exact SKU (any case: that product only), or words of the name, any case, each matching the "
        'start of a word (`oat mi` finds "Oat milk 1L"). Without `ordering`, a search of at most 1,000 matches is ranked by '
        "relevance, a broader one lists the newest first.",
    ),
    OpenApiParameter(
        "ordering",
        {"type": "string", "enum": ORDERING_VALUES},
        description="One sort key, `-` for descending (default `name`; ties broken by id).",
    ),
    *[
        OpenApiParameter(name, {"type": "string", "pattern": f"^{PRICE_PATTERN}$"}, description=f"Price bound, 0 to {MAX_PRICE}.")
        for name in ("min_price", "max_price")
    ],
]


# The methods of a view class, as DRF's allowed_methods lists them (after setup()).
_ALLOWED_METHODS: dict[type, list[str]] = {}

# Parsed product-list queries by (query string, is_staff): see ProductListApi._query.
_RECENT_QUERIES: BoundedMemo[tuple[str, bool], selectors.ProductQuery] = BoundedMemo(1024)


def _actor(request: Request) -> str:
    return f"user:{request.user.public_id}"


@extend_schema_view(
    destroy=extend_schema(responses={204: None, 409: OpenApiResponse(description="`category_in_use`: it still has products.")})
)
class CategoryViewSet(viewsets.ModelViewSet):
    """Product categories: everyone reads, staff write."""

    permission_classes = [ReadOnlyOrStaff]
    serializer_class = CategorySerializer
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.category_list()

    def get_object(self) -> Category:
        category = selectors.category_get(self.kwargs["id"])
        if category is None:
            raise Http404
        return category

    def perform_create(self, serializer: CategorySerializer) -> None:
        serializer.instance = services.category_create(**serializer.validated_data)

    def get_success_headers(self, data: Any) -> dict[str, str]:
        return {"Location": self.request.build_absolute_uri(reverse("catalog:category-detail", kwargs={"id": data["id"]}))}

    def perform_update(self, serializer: CategorySerializer) -> None:
        serializer.instance = services.category_update(category=serializer.instance, data=dict(serializer.validated_data))

    def perform_destroy(self, instance: Category) -> None:
        services.category_delete(category=instance)


class ProductListApi(APIView):
    """The catalog: paginated, filtered, searched, ordered, cached."""

    permission_classes = [ReadOnlyOrStaff]

    @extend_schema(
        operation_id="catalog_products_list",
        parameters=PRODUCT_LIST_PARAMETERS,
        responses={
            200: inline_serializer(
                "ProductPage",
                {
                    "count": serializers.IntegerField(help_text="Products in the list: exact or estimated, as `count_exact` says."),
                    "count_exact": serializers.BooleanField(
                        help_text=f"true: `count` is exact. false: the list is longer than {selectors.EXACT_COUNT_LIMIT:,} and `count` "
                        "is PostgreSQL's estimate (never less than the products counted)."
                    ),
                    "next": serializers.URLField(allow_null=True, help_text="The next page: this URL with a `cursor`."),
                    "previous": serializers.URLField(allow_null=True, help_text="The previous page: this URL with a `cursor`."),
                    "results": ProductSerializer(many=True),
                },
            )
        },
    )
    def get(self, request: Request) -> HttpResponse:
        query = getattr(request, "product_query", None) or self._query(request, is_staff=bool(request.user.is_staff))
        page = selectors.product_page(query, prefetch.take(request, selectors.page_prefetch_key(query)))
        url = absolute_url(request._request) if page.next or page.previous else ""
        # Rendered here rather than by DRF's renderer: the rows are JSON
        # already (selectors.product_page), and this is the hot path.
        body = (
            f'{{"count":{page.count},"count_exact":{"true" if page.count_exact else "false"},'
            f'"next":{json.dumps(_cursor_link(url, page.next))},"previous":{json.dumps(_cursor_link(url, page.previous))},'
            f'"results":[{page.results_json}]}}'
        )
        response = HttpResponse(body.encode(), content_type="application/json")
        response["X-Cache"] = "hit" if page.cached else "miss"
        return response

    @property
    def allowed_methods(self) -> list[str]:
        # DRF works the Allow header out on every response (a hasattr per
        # HTTP method); a view's methods are its class's once it is set up
        # (View.setup() gives it HEAD). An instance that is not (the schema
        # generator's) gets DRF's answer, never remembered.
        methods = _ALLOWED_METHODS.get(type(self))
        if methods is None:
            methods = super().allowed_methods
            if hasattr(self, "head"):
                _ALLOWED_METHODS[type(self)] = methods
        return methods

    def redis_prefetch(self, request: Request, user: Any) -> prefetch.Prefetch | None:
        """The cached page's read, sent with authentication's round trip
        (opply/common/prefetch.py); none for a request the list refuses anyway."""
        if request.method not in ("GET", "HEAD"):
            return None
        try:
            # Kept for get(): the user it was parsed for is the request's, or
            # authentication fails and get() never runs.
            request.product_query = self._query(request, is_staff=bool(user.is_staff))
        except ValidationError:
            return None
        return selectors.page_prefetch(request.product_query)

    @staticmethod
    def _query(request: Request, *, is_staff: bool) -> selectors.ProductQuery:
        """The request's filters and page; a bad parameter is a 400 naming it.

        A pure function of the query string and who asks, remembered per
        process (:data:`_RECENT_QUERIES`): clients scroll and refresh the same
        lists, and on a cached page parsing the parameters, the cursor and
        the cache keys was a tenth of the request. A refused query is never
        remembered (it is refused afresh)."""
        key = (request.META.get("QUERY_STRING", ""), is_staff)
        query = _RECENT_QUERIES.get(key)
        if query is None:
            query = ProductListApi._parse_query(request, is_staff=is_staff)
            _RECENT_QUERIES.put(key, query)
        return query

    @staticmethod
    def _parse_query(request: Request, *, is_staff: bool) -> selectors.ProductQuery:
        position = ProductCursorPagination().position(request)
        raw_page = single_query_value(request, "page")
        if raw_page is not None and position is not None:
            raise ValidationError({"page": ["Give page or cursor, not both."]})
        page_number = 1 if raw_page is None else parse_positive_int(raw_page, "page")
        if page_number > MAX_PAGE:
            raise ValidationError(
                {"page": [f"Pages past {MAX_PAGE} are not served: follow the next link (a cursor) of page {MAX_PAGE} onwards instead."]}
            )
        return selectors.ProductQuery(
            # Tuples: the query is shared by every request that sends the same string.
            params={
                name: tuple(request.query_params.getlist(name)) for name in selectors.FILTER_PARAMETERS if name in request.query_params
            },
            is_staff=is_staff,
            page=page_number,
            page_size=PageNumberPagination().get_page_size(request),
            cursor=request.query_params.get("cursor") if position is not None else None,
            position=position,
        )

    @extend_schema(request=ProductCreateSerializer, responses={201: ProductDetailSerializer})
    def post(self, request: Request) -> Response:
        serializer = ProductCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_create(**serializer.validated_data, actor=_actor(request))
        location = request.build_absolute_uri(reverse("catalog:product-detail", kwargs={"id": product.public_id}))
        return Response(_detail(product), status=status.HTTP_201_CREATED, headers={"Location": location})


def _detail(product: Product) -> dict[str, Any]:
    return ProductDetailSerializer(selectors.with_quantity(product)).data


def _cursor_link(url: str, token: str | None) -> str | None:
    return None if token is None else _link_with_cursor(url, token)


@lru_cache(maxsize=1024)
def _link_with_cursor(url: str, token: str) -> str:
    # Remembered: the most-read pages send the same URL and carry the same
    # next cursor, request after request, until the catalog changes.
    if "?" not in url:
        # The plain list (the most-read page): nothing to replace or remove.
        return f"{url}?{urlencode({'cursor': token})}"
    return replace_query_param(remove_query_param(url, "page"), "cursor", token)


class ProductDetailApi(APIView):
    permission_classes = [ReadOnlyOrStaff]

    def _product(self, request: Request, id: UUID) -> Product:
        product = selectors.product_get(id, include_inactive=bool(request.user.is_staff))
        if product is None:
            raise Http404
        return product

    @extend_schema(responses={200: ProductDetailSerializer})
    def get(self, request: Request, id: UUID) -> Response:
        return Response(_detail(self._product(request, id)))

    @extend_schema(request=ProductUpdateSerializer, responses={200: ProductDetailSerializer})
    def put(self, request: Request, id: UUID) -> Response:
        return self._update(request, id, partial=False)

    @extend_schema(request=ProductUpdateSerializer, responses={200: ProductDetailSerializer})
    def patch(self, request: Request, id: UUID) -> Response:
        return self._update(request, id, partial=True)

    def _update(self, request: Request, id: UUID, *, partial: bool) -> Response:
        product = self._product(request, id)
        serializer = ProductUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        product = services.product_update(product=product, data=dict(serializer.validated_data))
        return Response(_detail(product))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: UUID) -> Response:
        services.product_deactivate(product=self._product(request, id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProductStockApi(APIView):
    """Staff adjust on-hand stock: a delta (restock, write-off) or a count."""

    permission_classes = [IsStaff]

    @extend_schema(
        request=StockAdjustSerializer,
        responses={200: StockSerializer, 409: OpenApiResponse(description="`stock_below_zero`: fewer units on hand than the write-off.")},
    )
    def post(self, request: Request, id: UUID) -> Response:
        product = selectors.product_get(id, include_inactive=True)
        if product is None:
            raise Http404
        serializer = StockAdjustSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        on_hand = services.stock_adjust(product=product, **serializer.validated_data, actor=_actor(request))
        detail = _detail(product)
        return Response({"id": detail["id"], "on_hand": on_hand, "quantity_in_stock": detail["quantity_in_stock"]})
