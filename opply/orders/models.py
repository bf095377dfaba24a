"""Orders, their lines and idempotency records, in the ``orders`` schema.

No foreign key leaves this schema: the customer and the products are
referred to by their public UUIDs, and a line copies the product's name and
unit price at order time so later catalog edits never change a past order.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models

from opply.common.db.constraints import check_constraint

# Limits of an order, enforced by the serializers and services (400 naming
# the field) and by CHECK constraints here. A line's total (at most the
# catalog's MAX_PRICE x MAX_UNITS_PER_LINE) always fits its numeric(14,2);
# the order's total is a sum of up to MAX_LINES_PER_ORDER of them and is
# refused above what its numeric(14,2) column holds.
MAX_UNITS_PER_LINE = 10_000
MAX_LINES_PER_ORDER = 100
MAX_ORDER_TOTAL = Decimal("999999999999.99")


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"
        CANCELLED = "cancelled"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer_id = models.UUIDField()
    status = models.CharField(max_length=16, choices=Status.choices)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = 'orders"."order'
        indexes = [models.Index(fields=["customer_id", "-created_at", "-id"], name="order_customer_history")]
        constraints = [
            check_constraint(models.Q(total__gte=0), name="order_total_not_negative"),
            check_constraint(models.Q(total__lte=MAX_ORDER_TOTAL), name="order_total_at_most_max"),
        ]

    def __str__(self) -> str:
        return f"order {self.public_id} ({self.status})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.UUIDField()
    product_name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField()
    line_total = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        db_table = 'orders"."order_line'
        constraints = [
            models.UniqueConstraint(fields=["order", "product_id"], name="order_line_one_per_product"),
            check_constraint(models.Q(quantity__gte=1), name="order_line_quantity_positive"),
            check_constraint(models.Q(quantity__lte=MAX_UNITS_PER_LINE), name="order_line_quantity_at_most_max"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_name}"


class IdempotencyRecord(models.Model):
    """The stored outcome of a request sent with an ``Idempotency-Key``, per customer, for 24 hours.

    Written only once the request has an outcome (see opply.orders.idempotency:
    "still running" lives in Redis).
    """

    customer_id = models.UUIDField()
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = 'orders"."idempotency_record'
        constraints = [models.UniqueConstraint(fields=["customer_id", "key"], name="idempotency_one_per_customer_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.key} ({self.response_status})"
