from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from opply.catalog.models import Product


class ProductFilter(django_filters.FilterSet):
    """Query parameters of the product list; a bad value is a 400 naming it."""

    category = django_filters.CharFilter(field_name="category__slug", max_length=100)
    search = django_filters.CharFilter(method="filter_search", max_length=100)
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte", min_value=0, max_digits=12, decimal_places=2)
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte", min_value=0, max_digits=12, decimal_places=2)
    in_stock = django_filters.ChoiceFilter(choices=[("true", "true"), ("false", "false")], method="filter_in_stock")
    ordering = django_filters.OrderingFilter(fields=(("name", "name"), ("price", "price"), ("created_at", "created_at")))

    class Meta:
        model = Product
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(Q(name__icontains=term) | Q(sku__icontains=term))

    def filter_in_stock(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        # Applied by the selector, which also knows the default (in stock only
        # for customers); declared here for validation and the OpenAPI schema.
        return queryset
