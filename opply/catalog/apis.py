from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from opply.catalog import selectors, services
from opply.catalog.filters import ORDERING_VALUES
from opply.catalog.models import MAX_PRICE, PRICE_PATTERN, Category, Product
from opply.catalog.serializers import (
    CategorySerializer,
    ProductCreateSerializer,
    ProductDetailSerializer,
    ProductSerializer,
    ProductUpdateSerializer,
    StockAdjustSerializer,
    StockSerializer,
)
from opply.common.pagination import MAX_PAGE_NUMBER, PageNumberPagination
from opply.common.permissions import IsStaff, ReadOnlyOrStaff

PRODUCT_LIST_PARAMETERS = [
    OpenApiParameter(
        "page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER}, description="1-based page number; past the end is a 404."
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
    OpenApiParameter("search", {"type": "string", "maxLength": 100}, description="Part of the name or SKU, any case."),
    OpenApiParameter(
        "ordering",
        {"type": "array", "items": {"type": "string", "enum": ORDERING_VALUES}},
        style="form",
        explode=False,
        description="Sort keys, comma-separated, `-` for descending (default `name`).",
    ),
    *[
        OpenApiParameter(name, {"type": "string", "pattern": f"^{PRICE_PATTERN}$"}, description=f"Price bound, 0 to {MAX_PRICE}.")
        for name in ("min_price", "max_price")
    ],
]


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
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": ProductSerializer(many=True),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page_number = paginator.get_page_number(request, None)
        query = selectors.ProductQuery(
            params={name: request.query_params.getlist(name) for name in selectors.FILTER_PARAMETERS if name in request.query_params},
            is_staff=bool(request.user.is_staff),
            page=int(page_number),
            page_size=paginator.get_page_size(request),
        )
        page = selectors.product_page(query)
        return Response(
            {
                "count": page["count"],
                "next": _page_link(request, query.page + 1) if query.page * query.page_size < page["count"] else None,
                "previous": _page_link(request, query.page - 1) if query.page > 1 else None,
                "results": page["results"],
            }
        )

    @extend_schema(request=ProductCreateSerializer, responses={201: ProductDetailSerializer})
    def post(self, request: Request) -> Response:
        serializer = ProductCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_create(**serializer.validated_data, actor=_actor(request))
        location = request.build_absolute_uri(reverse("catalog:product-detail", kwargs={"id": product.public_id}))
        return Response(selectors.product_detail(product), status=status.HTTP_201_CREATED, headers={"Location": location})


def _page_link(request: Request, page: int) -> str:
    params = request.query_params.copy()
    params["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


class ProductDetailApi(APIView):
    permission_classes = [ReadOnlyOrStaff]

    def _product(self, request: Request, id: UUID) -> Product:
        product = selectors.product_get(id, include_inactive=bool(request.user.is_staff))
        if product is None:
            raise Http404
        return product

    @extend_schema(responses={200: ProductDetailSerializer})
    def get(self, request: Request, id: UUID) -> Response:
        return Response(selectors.product_detail(self._product(request, id)))

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
        return Response(selectors.product_detail(product))

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
        detail = selectors.product_detail(product)
        return Response({"id": detail["id"], "on_hand": on_hand, "quantity_in_stock": detail["quantity_in_stock"]})
