from __future__ import annotations

from typing import Any

from rest_framework import serializers

from opply.catalog import selectors
from opply.catalog.models import Category
from opply.common.serializers import StrictModelSerializer, StrictSerializer

MAX_QUANTITY = 1_000_000_000
MAX_PRICE_DIGITS = 12


class CategorySerializer(StrictModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Category
        fields = ("id", "name", "slug")
        extra_kwargs = {"slug": {"validators": []}}


class CategoryRefField(serializers.UUIDField):
    """A category given by its public id; unknown ids are a 400 on the field."""

    def to_internal_value(self, data: Any) -> Category:
        public_id = super().to_internal_value(data)
        category = selectors.category_get(public_id)
        if category is None:
            raise serializers.ValidationError("No category with this id.")
        return category

    def to_representation(self, value: Category) -> str:
        return str(value.public_id)


class ProductSerializer(serializers.Serializer):
    """A product as clients see it (output only; documents the schema)."""

    id = serializers.UUIDField()
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
    name = serializers.CharField(max_length=200)
    sku = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)
    price = serializers.DecimalField(max_digits=MAX_PRICE_DIGITS, decimal_places=2, min_value=0)
    category = CategoryRefField()


class ProductCreateSerializer(ProductWriteSerializer):
    quantity_in_stock = serializers.IntegerField(min_value=0, max_value=MAX_QUANTITY, help_text="Initial units on hand.")


class ProductUpdateSerializer(ProductWriteSerializer):
    is_active = serializers.BooleanField(required=False)
    quantity_in_stock = serializers.IntegerField(required=False, write_only=True, help_text="Not accepted: use stock/.")

    def validate_quantity_in_stock(self, value: int) -> int:
        raise serializers.ValidationError("Stock changes only through POST .../stock/ (delta or quantity), never by editing the product.")


class StockAdjustSerializer(StrictSerializer):
    delta = serializers.IntegerField(
        required=False, min_value=-MAX_QUANTITY, max_value=MAX_QUANTITY, help_text="Restock (> 0) or write-off (< 0)."
    )
    quantity = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_QUANTITY, help_text="A stock count: the new on-hand quantity."
    )

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
