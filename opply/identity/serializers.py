from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from opply.common.serializers import StrictCharField, StrictEmailField, StrictModelSerializer, StrictSerializer
from opply.identity import selectors
from opply.identity.models import User, normalize_username

CUSTOMER_FIELDS = ("id", "username", "email", "first_name", "last_name", "company_name", "is_active", "date_joined")
# Longer than any token this server issues (a few hundred characters).
MAX_TOKEN_LENGTH = 2048


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": 150,
        "pattern": "^[A-Za-z0-9_.@+-]+$",
        "description": "ASCII letters, digits and @ . + - _ only; unique whatever the case.",
    }
)
class UsernameField(StrictCharField):
    """A username, NFKC-normalised before the model's validators judge it."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("max_length", User._meta.get_field("username").max_length)
        kwargs.setdefault("validators", list(User._meta.get_field("username").validators))
        kwargs.setdefault("help_text", User._meta.get_field("username").help_text)
        super().__init__(**kwargs)

    def to_internal_value(self, data):  # type: ignore[no-untyped-def]
        return normalize_username(super().to_internal_value(data))


class CustomerSerializer(StrictModelSerializer):
    """A customer as staff see it."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    # Declared rather than generated: the model's unique validator would be
    # case-sensitive (validate_username checks case-insensitively instead),
    # and the model's character validator must stay.
    username = UsernameField()
    email = StrictEmailField(max_length=254)

    class Meta:
        model = User
        fields = CUSTOMER_FIELDS
        read_only_fields = ("id", "date_joined")

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

    password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False, style={"input_type": "password"})

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
    """``me``: a customer edits their own profile, never their username or status."""

    username = serializers.CharField(read_only=True)

    class Meta(CustomerSerializer.Meta):
        read_only_fields = ("id", "username", "is_active", "date_joined")


class TokenRevokeSerializer(StrictSerializer):
    refresh = StrictCharField(max_length=MAX_TOKEN_LENGTH, trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RegistrationSerializer(CustomerSerializer):
    """The new customer and their first token pair (output only)."""

    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = (*CUSTOMER_FIELDS, "access", "refresh")
