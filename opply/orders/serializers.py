from __future__ import annotations

from typing import Any

from rest_framework import serializers

from opply.common.serializers import StrictSerializer

MAX_UNITS_PER_LINE = 10_000
MAX_LINES_PER_ORDER = 100


class OrderItemInputSerializer(StrictSerializer):
    product_id = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_UNITS_PER_LINE)


class OrderInputSerializer(StrictSerializer):
    items = OrderItemInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES_PER_ORDER)

    def validate_items(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set = set()
        for item in items:
            if item["product_id"] in seen:
                raise serializers.ValidationError(
                    f"Product {item['product_id']} appears more than once; give it once with the total quantity."
                )
            seen.add(item["product_id"])
        return items


class OrderItemSerializer(serializers.Serializer):
    product_id = serializers.UUIDField()
    product_name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    quantity = serializers.IntegerField()
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)


class OrderSerializer(serializers.Serializer):
    """Output only: documents the order representation in the schema."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["pending", "confirmed", "rejected", "cancelled"])
    created_at = serializers.DateTimeField()
    items = OrderItemSerializer(many=True)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)


class CartItemInputSerializer(StrictSerializer):
    product_id = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_UNITS_PER_LINE)


class CartQuantitySerializer(StrictSerializer):
    quantity = serializers.IntegerField(
        min_value=1, max_value=MAX_UNITS_PER_LINE, help_text="The line's new quantity; DELETE the line to remove it."
    )


class CartLineSerializer(serializers.Serializer):
    product_id = serializers.UUIDField()
    name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    quantity = serializers.IntegerField()
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)


class CartSerializer(serializers.Serializer):
    """Output only: the cart with current names and prices."""

    items = CartLineSerializer(many=True)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When the reservations lapse unless the cart changes; null when empty."
    )
