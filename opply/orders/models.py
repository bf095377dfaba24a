"""Orders, their lines and idempotency records, in the ``orders`` schema.

No foreign key leaves this schema: the customer and the products are
referred to by their public UUIDs, and a line copies the product's name and
unit price at order time so later catalog edits never change a past order.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.utils import timezone

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
    """An order and where it is in its life cycle (opply.orders.lifecycle).

    ``pending → confirmed | rejected``, ``confirmed → shipped | cancelled``.
    Each status has the time the order entered it (NULL until then), and
    ``status_changed_at`` is the latest of them: a column per status rather
    than a transitions table, because a status is entered at most once and
    the fulfilment worker confirms thousands of orders a second in one
    ``UPDATE`` (a history table would double its writes).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"
        SHIPPED = "shipped"
        CANCELLED = "cancelled"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer_id = models.UUIDField()
    status = models.CharField(max_length=16, choices=Status.choices)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Why a pending order was rejected (the line PostgreSQL found short), or
    # who cancelled it; empty otherwise.
    status_reason = models.CharField(max_length=500, blank=True, default="")
    # An asynchronous order's hold in the availability store (the holder its
    # lines were reserved under: the order, its Idempotency-Key or the
    # checked-out cart's), which the fulfilment worker sells or releases, and
    # settles later if the store could not be told. Empty for synchronous orders.
    holder = models.CharField(max_length=400, blank=True, default="")

    class Meta:
        db_table = 'orders"."order'
        indexes = [
            models.Index(fields=["customer_id", "-created_at", "-id"], name="order_customer_history"),
            # Staff's list: every order newest first, or one status's.
            models.Index(fields=["-created_at", "-id"], name="order_created"),
            models.Index(fields=["status", "-created_at", "-id"], name="order_status_created"),
            # The fulfilment worker's queue: small, whatever the history's size.
            models.Index(fields=["id"], name="order_pending", condition=models.Q(status="pending")),
            # Asynchronous orders by their hold's name (opply.orders.stray_holds).
            models.Index(fields=["holder"], name="order_holder", condition=~models.Q(holder="")),
        ]
        constraints = [
            check_constraint(models.Q(total__gte=0), name="order_total_not_negative"),
            check_constraint(models.Q(total__lte=MAX_ORDER_TOTAL), name="order_total_at_most_max"),
            check_constraint(models.Q(status__in=["pending", "confirmed", "rejected", "shipped", "cancelled"]), name="order_status_known"),
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
        # Staff filter orders by product.
        indexes = [models.Index(fields=["product_id", "order"], name="order_line_product")]
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


class OutboxMessage(models.Model):
    """An event to publish, written in the transaction that caused it (transactional outbox).

    Published to the events exchange after commit and marked ``sent_at``; the
    relay republishes rows still unsent (the process died between the commit
    and the publish). The metrics' backlog collector reads this table
    (opply/common/observability/collectors.py: OUTBOX_BACKLOG_SQL).
    """

    topic = models.CharField(max_length=64)  # the routing key: order.placed, order.confirmed...
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = 'orders"."outbox'
        indexes = [
            # What the relay and the backlog gauge read: small, whatever the table's size.
            models.Index(fields=["created_at"], name="outbox_unsent", condition=models.Q(sent_at__isnull=True)),
            # Housekeeping deletes old sent rows.
            models.Index(fields=["sent_at"], name="outbox_sent", condition=models.Q(sent_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk}"
