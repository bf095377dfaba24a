"""Query parameters of the order lists; a bad value is a 400 naming it."""

from __future__ import annotations

from uuid import UUID

import django_filters
from django.db.models import Exists, OuterRef, QuerySet

from opply.orders.models import Order, OrderLine

STATUS_CHOICES = [(status.value, status.value) for status in Order.Status]


class OrderHistoryFilter(django_filters.FilterSet):
    """A customer's own history: ``?status=``."""

    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES,
        help_text="Only orders in this status.",
        error_messages={"invalid_choice": f"%(value)s is not a status; use one of: {', '.join(c for c, _ in STATUS_CHOICES)}."},
    )

    class Meta:
        model = Order
        fields: list[str] = []


class StaffOrderFilter(OrderHistoryFilter):
    """Staff's view of every order."""

    customer = django_filters.UUIDFilter(field_name="customer_id", help_text="Only this customer's orders (the customer's id).")
    product = django_filters.UUIDFilter(method="filter_product", help_text="Only orders with a line of this product (its id).")
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Placed at or after this time (ISO 8601, with a time zone)."
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Placed before this time (ISO 8601, with a time zone)."
    )

    def filter_product(self, queryset: QuerySet[Order], name: str, value: UUID) -> QuerySet[Order]:
        return queryset.filter(Exists(OrderLine.objects.filter(order=OuterRef("pk"), product_id=value)))
