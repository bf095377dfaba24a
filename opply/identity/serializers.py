from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from opply.common.serializers import StrictModelSerializer, StrictSerializer
from opply.identity import selectors
from opply.identity.models import User

CUSTOMER_FIELDS = ("id", "username", "email", "first_name", "last_name", "company_name", "is_active", "date_joined")


class CustomerSerializer(StrictModelSerializer):
    """A customer as staff see it; also the output of registration."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    email = serializers.EmailField(max_length=254)

    class Meta:
        model = User
        fields = CUSTOMER_FIELDS
        read_only_fields = ("id", "date_joined")
        extra_kwargs = {"username": {"validators": []}}

    def validate_username(self, value: str) -> str:
        if selectors.username_taken(value, exclude=self.instance):
            raise serializers.ValidationError("A user with that username already exists.")
        return value

    def validate_email(self, value: str) -> str:
        if selectors.email_taken(value, exclude=self.instance):
            raise serializers.ValidationError("A user with that email already exists.")
        return value


class CustomerCreateSerializer(CustomerSerializer):
    """Registration and staff creation: the same fields plus a password."""

    password = serializers.CharField(write_only=True, max_length=128, style={"input_type": "password"})

    class Meta(CustomerSerializer.Meta):
        fields = (*CUSTOMER_FIELDS, "password")
        read_only_fields = ("id", "date_joined", "is_active")

    def validate_password(self, value: str) -> str:
        # A field-level check, so that a weak password is reported together
        # with any other field error; similarity is judged against the raw input.
        data = self.initial_data if isinstance(self.initial_data, dict) else {}
        fields = ("username", "email", "first_name", "last_name")
        candidate = User(**{name: data[name] for name in fields if isinstance(data.get(name), str)})
        try:
            password_validation.validate_password(value, user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from None
        return value


class ProfileSerializer(CustomerSerializer):
    """``me``: a customer edits their own profile, never their status."""

    class Meta(CustomerSerializer.Meta):
        read_only_fields = ("id", "username", "is_active", "date_joined")


class TokenRevokeSerializer(StrictSerializer):
    refresh = serializers.CharField()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
