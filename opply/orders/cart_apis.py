from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from opply.orders import cart
from opply.orders.apis import ACCEPTED, IDEMPOTENCY_PARAMETER, ORDER_ERRORS, respond_idempotently
from opply.orders.serializers import CartItemInputSerializer, CartQuantitySerializer, CartSerializer, OrderSerializer

CART_ERRORS = {
    400: OpenApiResponse(description="Invalid input; the cart is unchanged."),
    409: OpenApiResponse(description="`insufficient_stock`, with `available`: the cart is unchanged."),
    422: OpenApiResponse(description="`cart_quantity_limit` or `cart_line_limit`: over the per-customer caps."),
    503: OpenApiResponse(description="Carts are unavailable (Redis down); retry after `Retry-After`."),
}


# One bound serializer per process (see opply.orders.selectors._ORDER).
_CART = CartSerializer()


def cart_representation(value: cart.Cart) -> dict[str, Any]:
    return _CART.to_representation(value)


class CartApi(APIView):
    @extend_schema(responses={200: CartSerializer, 503: CART_ERRORS[503]}, summary="The caller's cart")
    def get(self, request: Request) -> Response:
        return Response(cart_representation(cart.cart_get(request.user.public_id)))

    @extend_schema(responses={204: None, 503: CART_ERRORS[503]}, summary="Empty the cart and give every reservation back")
    def delete(self, request: Request) -> Response:
        cart.cart_clear(customer_id=request.user.public_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CartItemsApi(APIView):
    @extend_schema(
        request=CartItemInputSerializer, responses={200: CartSerializer, **CART_ERRORS}, summary="Add to the cart, reserving now"
    )
    def post(self, request: Request) -> Response:
        serializer = CartItemInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        value = cart.cart_add(customer_id=request.user.public_id, **serializer.validated_data)
        return Response(cart_representation(value))


class CartItemApi(APIView):
    @extend_schema(
        request=CartQuantitySerializer, responses={200: CartSerializer, 404: OpenApiResponse(description="Not in the cart."), **CART_ERRORS}
    )
    def put(self, request: Request, product_id: UUID) -> Response:
        serializer = CartQuantitySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        value = cart.cart_set(customer_id=request.user.public_id, product_id=product_id, **serializer.validated_data)
        return Response(cart_representation(value))

    @extend_schema(responses={200: CartSerializer, 404: OpenApiResponse(description="Not in the cart."), 503: CART_ERRORS[503]})
    def delete(self, request: Request, product_id: UUID) -> Response:
        return Response(cart_representation(cart.cart_remove(customer_id=request.user.public_id, product_id=product_id)))


class CheckoutApi(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OrderSerializer,
            202: ACCEPTED,
            **ORDER_ERRORS,
            409: OpenApiResponse(
                description="`insufficient_stock`, `cart_empty`, `cart_line_unavailable` (a line names a product that no longer "
                "exists: nothing ordered, the cart is kept) or `idempotency_in_progress`."
            ),
            503: OpenApiResponse(
                description="Carts are unavailable (Redis down), or the database is busy/unavailable; the cart is kept. "
                "Retry after `Retry-After` with the same `Idempotency-Key`."
            ),
        },
        summary="Turn the cart into an order (same commit path as a direct order)",
    )
    def post(self, request: Request) -> Response:
        if request.data:
            raise ValidationError(
                {name: ["Unknown field."] for name in request.data} if isinstance(request.data, dict) else ["No body expected."]
            )
        return respond_idempotently(request, lambda claim: cart.cart_checkout(customer_id=request.user.public_id, idempotency=claim))
