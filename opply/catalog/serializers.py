from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from opply.catalog import selectors
from opply.catalog.models import MAX_ON_HAND, MAX_PRICE, PRICE_PATTERN, Category
from opply.common.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictDecimalField,
    StrictIntegerField,
    StrictModelSerializer,
    StrictRegexField,
    StrictSerializer,
    StrictStringMixin,
)

MAX_PRICE_DIGITS = 12


@extend_schema_field({"type": "string", "format": "decimal", "pattern": f"^{PRICE_PATTERN}$", "example": "12.50"})
class PriceField(StrictDecimalField):
    pattern = re.compile(PRICE_PATTERN)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=MAX_PRICE_DIGITS, decimal_places=2, min_value=0, max_value=MAX_PRICE, **kwargs)


class CategorySerializer(StrictModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Category
        fields = ("id", "name", "slug")
        extra_kwargs = {"slug": {"validators": []}}


class CategoryRefField(StrictStringMixin, serializers.CharField):
    """A category given by its public id (or its slug); an unknown one is a 400 on the field."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 100)
        kwargs.setdefault("help_text", "The category's id (a UUID) or its slug.")
        super().__init__(**kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Category:
        reference = super().run_validation(data)  # a string of at most max_length
        category = selectors.category_by_reference(reference)
        if category is None:
            raise serializers.ValidationError("No category with this id or slug.")
        return category

    def to_representation(self, value: Category) -> str:
        return str(value.public_id)


class ProductSerializer(serializers.Serializer):
    """A product as clients see it (output only): renders a ``Product`` whose
    ``quantity_in_stock`` the selector set (``selectors.with_quantity``). The
    cached list builds the same dict by hand for speed (``selectors._row``; a
    test holds the two equal)."""

    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField()
    sku = serializers.CharField()
    price = serializers.DecimalField(max_digits=MAX_PRICE_DIGITS, decimal_places=2)
    quantity_in_stock = serializers.IntegerField(help_text="Units a customer can still buy: on hand minus reservations.")
    category = CategorySerializer()


class ProductDetailSerializer(ProductSerializer):
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProductWriteSerializer(StrictSerializer):
    name = StrictCharField(max_length=200)
    sku = StrictRegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)
    price = PriceField()
    category = CategoryRefField()


class ProductCreateSerializer(ProductWriteSerializer):
    quantity_in_stock = StrictIntegerField(min_value=0, max_value=MAX_ON_HAND, help_text="Initial units on hand.")


class ProductUpdateSerializer(ProductWriteSerializer):
    is_active = StrictBooleanField(required=False)

    def unknown_field_message(self, name: str) -> str:
        if name == "quantity_in_stock":
            return "Stock changes only through POST .../stock/ (delta or quantity), never by editing the product."
        return super().unknown_field_message(name)


class StockAdjustSerializer(StrictSerializer):
    delta = StrictIntegerField(
        required=False,
        min_value=-MAX_ON_HAND,
        max_value=MAX_ON_HAND,
        help_text=f"Restock (> 0) or write-off (< 0). On hand stays between 0 and {MAX_ON_HAND}.",
    )
    quantity = StrictIntegerField(required=False, min_value=0, max_value=MAX_ON_HAND, help_text="A stock count: the new on-hand quantity.")

    openapi_request_schema = {
        "description": "Exactly one of `delta` (a restock or write-off, never 0) and `quantity` (a stock count).",
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "delta": {
                        "type": "integer",
                        "minimum": -MAX_ON_HAND,
                        "maximum": MAX_ON_HAND,
                        "not": {"enum": [0]},
                        "description": "Restock (> 0) or write-off (< 0).",
                    }
                },
                "required": ["delta"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "quantity": {"type": "integer", "minimum": 0, "maximum": MAX_ON_HAND, "description": "The new on-hand quantity."}
                },
                "required": ["quantity"],
                "additionalProperties": False,
            },
        ],
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("delta" in attrs) == ("quantity" in attrs):
            raise serializers.ValidationError({"non_field_errors": ["Give exactly one of delta and quantity."]})
        if attrs.get("delta") == 0:
            raise serializers.ValidationError({"delta": ["A delta of zero changes nothing."]})
        return attrs


class StockSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    on_hand = serializers.IntegerField()
    quantity_in_stock = serializers.IntegerField()
