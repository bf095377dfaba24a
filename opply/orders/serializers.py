from __future__ import annotations

from typing import Any

from rest_framework import serializers

from opply.common.serializers import MoneyField, StrictIntegerField, StrictSerializer, StrictUUIDField
from opply.orders.models import MAX_LINES_PER_ORDER, MAX_UNITS_PER_LINE


class OrderItemInputSerializer(StrictSerializer):
    product_id = StrictUUIDField()
    quantity = StrictIntegerField(min_value=1, max_value=MAX_UNITS_PER_LINE)


class OrderInputSerializer(StrictSerializer):
    # A ListField rather than many=True: its errors are flat like every other
    # field's ("items": ["This list may not be empty."]), and the schema gets
    # minItems/maxItems.
    items = serializers.ListField(child=OrderItemInputSerializer(), allow_empty=False, min_length=1, max_length=MAX_LINES_PER_ORDER)

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
    unit_price = MoneyField(max_digits=12)
    quantity = serializers.IntegerField()
    line_total = MoneyField(max_digits=14)


class OrderSerializer(serializers.Serializer):
    """An order with its lines."""

    # Renders {"order": ..., "lines": ...} or anything with those attributes
    # (services.OrderResult): the one rendering of an order, responses and
    # stored idempotent outcomes alike.

    id = serializers.UUIDField(source="order.public_id")
    status = serializers.ChoiceField(
        choices=["pending", "confirmed", "rejected", "shipped", "cancelled"],
        help_text="pending → confirmed | rejected; confirmed → shipped | cancelled.",
        source="order.status",
    )
    created_at = serializers.DateTimeField(source="order.created_at")
    status_changed_at = serializers.DateTimeField(help_text="When the order entered its current status.", source="order.status_changed_at")
    status_reason = serializers.CharField(
        allow_blank=True,
        help_text="Why it was rejected (the line that was short) or who cancelled it; empty otherwise.",
        source="order.status_reason",
    )
    items = OrderItemSerializer(many=True, source="lines")
    total = MoneyField(max_digits=14, source="order.total")


class OrderCustomerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField(allow_null=True, help_text="Null if the account no longer exists.")


class StaffOrderSerializer(OrderSerializer):
    """Output only: an order as staff see it, naming its customer."""

    customer = OrderCustomerSerializer()


class CartItemInputSerializer(StrictSerializer):
    product_id = StrictUUIDField()
    quantity = StrictIntegerField(min_value=1, max_value=MAX_UNITS_PER_LINE)


class CartQuantitySerializer(StrictSerializer):
    quantity = StrictIntegerField(
        min_value=0, max_value=MAX_UNITS_PER_LINE, help_text="The line's new quantity; 0 removes the line (as DELETE does)."
    )


class CartLineSerializer(serializers.Serializer):
    product_id = serializers.UUIDField(source="product.public_id")
    name = serializers.CharField(source="product.name")
    unit_price = MoneyField(max_digits=12, source="product.price")
    quantity = serializers.IntegerField()
    line_total = MoneyField(max_digits=14)


class CartSerializer(serializers.Serializer):
    """The cart with current names and prices."""

    # Renders a cart.Cart.

    items = CartLineSerializer(many=True, source="lines")
    total = MoneyField(max_digits=14)
    expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the reservations lapse unless the cart changes; a change renews it, but never past "
        "CART_MAX_LIFETIME_SECONDS (default 1 hour) after the first reservation. Null when empty.",
    )
