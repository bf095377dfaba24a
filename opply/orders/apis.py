from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from opply.common.errors import PROBLEM_CONTENT_TYPE, problem_of
from opply.common.observability import metrics
from opply.orders import idempotency, selectors, services
from opply.orders.filters import OrderHistoryFilter
from opply.orders.models import Order
from opply.orders.serializers import OrderInputSerializer, OrderSerializer
from opply.orders.services import OrderResult

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH, "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description="Makes the request safe to retry: the first outcome is stored for 24 hours and replayed "
    "(with `Idempotent-Replayed: true`). Another body with the same key: 422; while the first runs: 409.",
)
ORDER_ERRORS = {
    400: OpenApiResponse(description="Invalid input; nothing reserved or written."),
    409: OpenApiResponse(description="`insufficient_stock` (with `lines`: available per short line) or `idempotency_in_progress`."),
    422: OpenApiResponse(description="`idempotency_key_reused`: the key was used with another body."),
    503: OpenApiResponse(
        description="`database_busy` (a lock or statement timeout) or `database_unavailable` (the connection failed): nothing was "
        "ordered. Retry after `Retry-After` seconds with the same `Idempotency-Key`."
    ),
}


ACCEPTED = OpenApiResponse(
    OrderSerializer,
    description="Asynchronous fulfilment (`ORDER_FULFILMENT=async`): every line is reserved and the order is `pending`; "
    "a worker confirms or rejects it. Poll the `Location` header's order.",
)


def respond_idempotently(request: Request, place: Callable[[idempotency.Claim | None], OrderResult]) -> Response:
    """Run ``place`` at most once per (customer, Idempotency-Key) and replay its outcome."""
    raw_key = request.headers.get("Idempotency-Key")
    if raw_key is None:
        return _created(request, place(None))

    outcome = idempotency.claim(
        customer_id=request.user.public_id,
        key=idempotency.validate_key(raw_key),
        request_fingerprint=idempotency.fingerprint(request.method, request.path, request.data),
    )
    if isinstance(outcome, idempotency.StoredResponse):
        return _replay(request, outcome)
    try:
        placed = place(outcome)
    except services.InsufficientStock as exc:
        # The request ran to a business outcome: a retry must get it again.
        status_code, body = problem_of(exc)
        idempotency.store_outcome(outcome, status=status_code, body=body)
        raise
    except idempotency.AlreadyStored:
        # A concurrent request with this key won (Redis had lost the lock):
        # this one rolled back; answer what the winner stored.
        stored = idempotency.stored_response(customer_id=outcome.customer_id, key=outcome.key, request_fingerprint=outcome.fingerprint)
        if stored is None:  # pragma: no cover - the winner's row is committed before the conflict is reported
            raise
        return _replay(request, stored)
    except BaseException:
        outcome.abandon()
        raise
    return _created(request, placed)


def _order_location(request: Request, order_id: Any) -> str:
    return request.build_absolute_uri(reverse("orders:order-detail", kwargs={"id": order_id}))


def _created(request: Request, placed: OrderResult) -> Response:
    """201 for a confirmed order; 202 for one accepted and pending (asynchronous
    fulfilment: the client polls the ``Location``)."""
    body = selectors.order_representation(placed.order, placed.lines)
    code = status.HTTP_202_ACCEPTED if placed.order.status == Order.Status.PENDING else status.HTTP_201_CREATED
    return Response(body, status=code, headers={"Location": _order_location(request, placed.order.public_id)})


def _replay(request: Request, stored: idempotency.StoredResponse) -> Response:
    metrics.idempotent_replay(status=stored.status)
    headers = {"Idempotent-Replayed": "true"}
    if stored.status in (status.HTTP_201_CREATED, status.HTTP_202_ACCEPTED):
        headers["Location"] = _order_location(request, stored.body["id"])
    return Response(
        stored.body,
        status=stored.status,
        headers=headers,
        content_type=PROBLEM_CONTENT_TYPE if stored.status >= 400 else None,
    )


class OrderListCreateApi(GenericAPIView):
    serializer_class = OrderInputSerializer
    queryset = Order.objects.none()  # for the schema; requests use the caller's history
    filterset_class = OrderHistoryFilter

    @extend_schema(responses={200: OrderSerializer(many=True)}, summary="The caller's orders, newest first (?status= filters)")
    def get(self, request: Request) -> Response:
        queryset = self.filter_queryset(selectors.order_history(request.user.public_id))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([selectors.order_representation(order, order.prefetched_lines) for order in page])

    @extend_schema(
        request=OrderInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: OrderSerializer, 202: ACCEPTED, **ORDER_ERRORS},
        summary="Place an order, all or nothing",
    )
    def post(self, request: Request) -> Response:
        serializer = OrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lines = [services.LineRequest(item["product_id"], item["quantity"]) for item in serializer.validated_data["items"]]
        return respond_idempotently(
            request,
            lambda claim: services.order_place(customer_id=request.user.public_id, lines=lines, idempotency=claim),
        )


class OrderDetailApi(APIView):
    @extend_schema(responses={200: OrderSerializer})
    def get(self, request: Request, id: UUID) -> Response:
        order = selectors.order_get(customer_id=request.user.public_id, order_id=id)
        if order is None:
            raise Http404
        return Response(selectors.order_representation(order, order.prefetched_lines))


class OrderCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: OrderSerializer,
            409: OpenApiResponse(
                description="`order_not_cancellable`: only a confirmed order can be cancelled (`order_status` says what it is)."
            ),
        },
        summary="Cancel a confirmed order; its stock returns",
    )
    def post(self, request: Request, id: UUID) -> Response:
        cancelled = services.order_cancel(customer_id=request.user.public_id, order_id=id, by="customer")
        return Response(selectors.order_representation(cancelled.order, cancelled.lines))
