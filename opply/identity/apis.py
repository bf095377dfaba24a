from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from opply.common.permissions import IsStaff
from opply.common.throttling import LOGIN_THROTTLES
from opply.identity import selectors, services
from opply.identity.models import User
from opply.identity.serializers import (
    CustomerCreateSerializer,
    CustomerSerializer,
    ProfileSerializer,
    RegistrationSerializer,
    TokenPairSerializer,
    TokenRevokeSerializer,
)
from opply.identity.tokens import IssuedRefreshToken, RotatingRefreshSerializer, TokenObtainSerializer, invalid_token, parse_refresh


class RegisterApi(generics.GenericAPIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    serializer_class = CustomerCreateSerializer

    @extend_schema(responses={201: RegistrationSerializer}, summary="Create a customer account (and log it in)")
    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_create(**serializer.validated_data)
        # The first token pair comes with the account, so an app signs up in one call.
        refresh = IssuedRefreshToken.for_user(customer)
        body = {**CustomerSerializer(customer).data, "access": str(refresh.access_token), "refresh": str(refresh)}
        return Response(body, status=status.HTTP_201_CREATED, headers=_location(request, customer))


def _location(request: Request, customer: User) -> dict[str, str]:
    return {"Location": request.build_absolute_uri(reverse("identity:customer-detail", kwargs={"id": customer.public_id}))}


WRONG_TOKEN = OpenApiResponse(description="`token_not_valid`: the refresh token is invalid, expired or revoked.")


class TokenObtainApi(TokenObtainPairView):
    """Username + password -> access and refresh tokens. Throttled per username and per IP."""

    throttle_classes = list(LOGIN_THROTTLES)

    @extend_schema(
        request=TokenObtainSerializer,
        responses={200: TokenPairSerializer, 401: OpenApiResponse(description="`no_active_account`: wrong username or password.")},
    )
    def post(self, request: Request, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        return super().post(request, *args, **kwargs)


class TokenRefreshApi(TokenRefreshView):
    """A refresh token -> a new access token and a rotated refresh token."""

    serializer_class = RotatingRefreshSerializer

    @extend_schema(responses={200: TokenPairSerializer, 401: WRONG_TOKEN})
    def post(self, request: Request, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        return super().post(request, *args, **kwargs)


class TokenRevokeApi(APIView):
    """Log out: blacklist one of the caller's own refresh tokens."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=TokenRevokeSerializer, responses={204: None, 401: WRONG_TOKEN})
    def post(self, request: Request) -> Response:
        serializer = TokenRevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refresh = parse_refresh(serializer.validated_data["refresh"])
        if refresh.get(jwt_settings.USER_ID_CLAIM) != str(request.user.public_id):
            # Someone else's valid token gets exactly the answer a garbage,
            # expired or revoked one gets: nothing tells them apart.
            raise invalid_token()
        services.token_revoke(refresh=refresh)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CustomerViewSet(viewsets.ModelViewSet):
    """Staff maintain customers. DELETE deactivates: orders are kept, logins stop."""

    permission_classes = [IsStaff]
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.customer_list()

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        if self.action == "create":
            return CustomerCreateSerializer
        if self.action == "me":
            return ProfileSerializer
        return CustomerSerializer

    def get_object(self) -> User:
        customer = selectors.customer_get(self.kwargs["id"])
        if customer is None:
            raise Http404
        return customer

    @extend_schema(responses={201: CustomerSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_create(**serializer.validated_data)
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED, headers=_location(request, customer))

    def perform_update(self, serializer: CustomerSerializer) -> None:
        serializer.instance = services.customer_update(customer=serializer.instance, data=dict(serializer.validated_data))

    def perform_destroy(self, instance: User) -> None:
        services.customer_deactivate(customer=instance)

    @action(detail=False, methods=["get", "patch"], permission_classes=[IsAuthenticated], url_path="me")
    def me(self, request: Request) -> Response:
        """The caller's own profile."""
        me = selectors.user_get(request.user.public_id)
        if me is None:  # deactivated since the token was issued
            raise AuthenticationFailed("No active account for this token.", "no_active_account")
        if request.method == "GET":
            return Response(ProfileSerializer(me).data)
        serializer = ProfileSerializer(me, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_update(customer=me, data=dict(serializer.validated_data))
        return Response(ProfileSerializer(customer).data)
