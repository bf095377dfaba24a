"""Input serializers and fields that take JSON at its word.

DRF's fields coerce: ``IntegerField`` takes ``"1_0"`` (10), an Arabic-Indic one (1) and
``"1.0"``; ``CharField`` takes ``0`` as ``"0"``; ``UUIDField`` takes the
integer ``5``; ``BooleanField`` takes ``"yes"``; ``DecimalField`` takes
``"1e2"`` and ``"1_000"``. A client that sends any of these has a bug, and
guessing what it meant hides it. The fields here accept exactly the JSON type
the OpenAPI schema names:

* integers: JSON integers only (not ``true``, not ``1.5``, not ``"10"``);
* strings (names, slugs, emails, passwords...): JSON strings only;
* UUIDs: a string, 32 hex digits with or without the four dashes;
* booleans: ``true`` / ``false`` only;
* decimals (money): a string of plain ASCII digits with an optional
  fraction: no JSON number, no exponent, no underscores.

Every input serializer derives from :class:`StrictSerializer` (unknown
fields are a 400 too) and uses these fields; ``StrictModelSerializer`` maps
model fields onto them. ``opply/common/tests/test_strict_fields.py`` checks
that every input serializer of the project does.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from django.db import models
from rest_framework import serializers

_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


class StrictStringMixin:
    """Only a JSON string is a string, and ``max_length`` counts what was sent.

    (DRF trims first and measures after, so a name padded with spaces could
    pass a ``maxLength`` the OpenAPI schema says it breaks.)
    """

    default_error_messages = {"not_a_string": "A string is required."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("not_a_string")  # type: ignore[attr-defined]
        max_length = getattr(self, "max_length", None)
        if max_length is not None and len(data) > max_length:
            self.fail("max_length", max_length=max_length)  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictCharField(StrictStringMixin, serializers.CharField):
    pass


class StrictEmailField(StrictStringMixin, serializers.EmailField):
    pass


class StrictSlugField(StrictStringMixin, serializers.SlugField):
    pass


class StrictRegexField(StrictStringMixin, serializers.RegexField):
    pass


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer; ``true``, ``1.5``, ``"10"`` are refused."""

    default_error_messages = {"invalid": "A whole number (a JSON integer) is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


class StrictDecimalField(serializers.DecimalField):
    """A decimal string in plain notation (money is ``"12.50"``): never a JSON
    number (binary floating point), ``"1e2"``, ``"1_0"`` or non-ASCII digits."""

    default_error_messages = {"invalid": 'A decimal number as a string, such as "12.50", is required.'}
    pattern = _DECIMAL

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or len(data) > self.MAX_STRING_LENGTH or not self.pattern.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "true or false is required."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictUUIDField(serializers.UUIDField):
    """A UUID as a string (32 hex digits, dashes optional); never a number."""

    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str) or not _UUID.fullmatch(data):
            self.fail("invalid", value=data)
        return uuid.UUID(data)


class MoneyField(serializers.DecimalField):
    """Output: an amount as a string with two decimals ("12.50"), whatever its
    size (DRF's DecimalField refuses to render a value past ``max_digits``,
    which stays only to describe the usual range in the schema)."""

    def __init__(self, *, max_digits: int, **kwargs: Any) -> None:
        super().__init__(max_digits=max_digits, decimal_places=2, **kwargs)

    def to_representation(self, value: Any) -> str:
        return f"{value:.2f}"


_DATETIME = serializers.DateTimeField()


def timestamp(value: datetime) -> str:
    """A timestamp as every response renders it: DRF's ISO 8601 in UTC, ``Z``-suffixed
    (``2026-11-25T12:30:00.123456Z``), whether a serializer or a hand-built dict renders it."""
    return _DATETIME.to_representation(value)


class StrictSerializer(serializers.Serializer):
    # Rejects fields it does not know instead of silently ignoring them: a
    # typo in a client ("quantiy": 3) is then a 400 naming the field, not a
    # request that quietly did something else. (A comment, not a docstring:
    # drf-spectacular would copy a docstring into every schema derived from it.)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({name: [self.unknown_field_message(name)] for name in sorted(unknown)})
        return super().to_internal_value(data)

    def unknown_field_message(self, name: str) -> str:
        return "Unknown field."


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
        models.SlugField: StrictSlugField,
        models.IntegerField: StrictIntegerField,
        models.BigIntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.SmallIntegerField: StrictIntegerField,
        models.DecimalField: StrictDecimalField,
        models.BooleanField: StrictBooleanField,
        models.UUIDField: StrictUUIDField,
    }


STRICT_INPUT_FIELDS = (
    StrictStringMixin,
    StrictIntegerField,
    StrictDecimalField,
    StrictBooleanField,
    StrictUUIDField,
)
