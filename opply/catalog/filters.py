from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import django_filters
from django import forms
from django.db.models import QuerySet

from opply.catalog.models import MAX_PRICE, PRICE_PATTERN, Category, Product

ORDERING_FIELDS = ("name", "price", "created_at")
ORDERING_VALUES = [value for name in ORDERING_FIELDS for value in (name, f"-{name}")]


class PlainDecimalField(forms.DecimalField):
    """A price as the OpenAPI pattern states it (``12.50``, at most MAX_PRICE):
    not ``1e2``, ``1_0`` or an Arabic-Indic digit."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not re.fullmatch(PRICE_PATTERN, str(value)):
            raise forms.ValidationError(
                f"A price from 0 to {MAX_PRICE} with at most two decimals, such as 12.50, is required.", code="invalid"
            )
        return super().to_python(value)


class PlainNumberFilter(django_filters.NumberFilter):
    field_class = PlainDecimalField


def category_lookup(reference: str) -> dict[str, Any]:
    """How to find a category named by a client: its id (a UUID) or else its slug."""
    try:
        return {"public_id": UUID(reference)}
    except ValueError:
        return {"slug": reference}


class ProductFilter(django_filters.FilterSet):
    """Query parameters of the product list; a bad value is a 400 naming it."""

    category = django_filters.CharFilter(method="filter_category", max_length=100)
    search = django_filters.CharFilter(method="filter_search", max_length=100)
    min_price = PlainNumberFilter(field_name="price", lookup_expr="gte", min_value=0, max_value=MAX_PRICE, max_digits=12, decimal_places=2)
    max_price = PlainNumberFilter(field_name="price", lookup_expr="lte", min_value=0, max_value=MAX_PRICE, max_digits=12, decimal_places=2)
    in_stock = django_filters.ChoiceFilter(choices=[("true", "true"), ("false", "false")], method="filter_in_stock")
    ordering = django_filters.OrderingFilter(
        fields=[(name, name) for name in ORDERING_FIELDS],
        error_messages={"invalid_choice": f"%(value)s is not an ordering; use one of: {', '.join(ORDERING_VALUES)}."},
    )

    class Meta:
        model = Product
        fields: list[str] = []

    # The category filtered on, once the filter ran (None: no category).
    category_id: int | None = None

    def filter_category(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        # The category's id first (one row by a unique key): filtering on
        # category_id lets PostgreSQL use that category's own statistics and
        # the (category, key) indexes, where a join on the slug leaves it guessing.
        category_id = Category.objects.filter(**category_lookup(value)).values_list("id", flat=True).first()
        if category_id is None:
            return queryset.none()
        # The selector filters on it, in the form each of its queries needs
        # (opply.catalog.selectors.in_category).
        self.category_id = category_id
        return queryset

    def filter_search(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        # Applied by the selector (opply.catalog.search), which searches in
        # steps; declared here for validation and the OpenAPI schema.
        return queryset

    def filter_in_stock(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        # Applied by the selector, which also knows the default (in stock only
        # for customers); declared here for validation and the OpenAPI schema.
        return queryset
