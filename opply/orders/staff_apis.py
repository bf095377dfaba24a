"""Staff order management: every customer's orders; ship and cancel.

Thin views over the same services customers and the admin use
(opply.orders.lifecycle, opply.orders.services): no write path around them.
"""

from __future__ import annotations

from uuid import UUID

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from opply.common.permissions import IsStaff
from opply.orders import lifecycle, selectors, services
from opply.orders.filters import StaffOrderFilter
from opply.orders.models import Order
from opply.orders.serializers import StaffOrderSerializer

NOT_FOUND = OpenApiResponse(description="No order with this id.")


def _one(order: Order) -> Response:
    return Response(selectors.staff_order_representations([order])[0])


class StaffOrderListApi(GenericAPIView):
    permission_classes = [IsStaff]
    queryset = Order.objects.none()  # for the schema; requests use every_order()
    filterset_class = StaffOrderFilter
    serializer_class = StaffOrderSerializer

    @extend_schema(summary="Every customer's orders, newest first", responses={200: StaffOrderSerializer(many=True)})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(selectors.every_order()))
        return self.get_paginated_response(selectors.staff_order_representations(page))


class StaffOrderDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(summary="Any order", responses={200: StaffOrderSerializer, 404: NOT_FOUND})
    def get(self, request: Request, id: UUID) -> Response:
        order = selectors.staff_order_get(id)
        if order is None:
            raise Http404
        return _one(order)


class StaffOrderShipApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        summary="Ship a confirmed order",
        request=None,
        responses={
            200: StaffOrderSerializer,
            404: NOT_FOUND,
            409: OpenApiResponse(description="`order_not_shippable`: only a confirmed order ships (`order_status` says what it is)."),
        },
    )
    def post(self, request: Request, id: UUID) -> Response:
        order = lifecycle.order_ship(order_id=id)
        return _one(selectors.staff_order_get(order.public_id))


class StaffOrderCancelApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        summary="Cancel a confirmed order; its stock returns",
        request=None,
        responses={
            200: StaffOrderSerializer,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="`order_not_cancellable`: only a confirmed order can be cancelled; a shipped one never "
                "(`order_status` says what it is)."
            ),
        },
    )
    def post(self, request: Request, id: UUID) -> Response:
        cancelled = services.order_cancel(order_id=id, by="staff")
        order = cancelled.order
        order.prefetched_lines = cancelled.lines  # type: ignore[attr-defined]
        return _one(order)
