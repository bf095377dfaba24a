"""The product list's query parameters: validated by a django-filter FilterSet
(a bad value is a 400 naming the parameter), built for every uncached page.

django-filter builds a filter set's machinery anew for each one: it deep-copies
every declared filter, builds each filter's form field and a form class from
them, and the form deep-copies those fields again. On a cache miss of the
product list that was a good part of the request's Python. Here the filter
set is the same but its copies are cheap (django-filter's own hooks): the
filters are copied shallowly (:class:`CopiedShallow`), and the form class is
built once, with fields every form of it shares (:meth:`ProductFilter.get_form_class`).
Validation, errors and the filtered queryset are django-filter's, unchanged.
"""

from __future__ import annotations

import copy
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


class CopiedShallow:
    """A filter that a filter set copies shallowly.

    Each filter set deep-copies its declared filters (``FilterSet.__init__``),
    so that each copy can be given the filter set (``parent``) and the model;
    deep, that copies every option, choice and built form field each time.
    Nothing changes a filter's options after its declaration, and what a
    filter set sets on its copy (``model``, ``parent``, the label and field
    built from them) is the copy's own attribute, so a shallow copy is the
    same. A filter with a ``method`` gets a method of its own, which calls
    its own filter set (the original's would call the one it was copied for).
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        clone = copy.copy(self)
        if clone.method is not None:
            clone.method = clone.method  # a FilterMethod of the copy's (django-filter's setter builds it)
        return clone


class CharFilter(CopiedShallow, django_filters.CharFilter):
    pass


class ChoiceFilter(CopiedShallow, django_filters.ChoiceFilter):
    pass


class OrderingFilter(CopiedShallow, django_filters.OrderingFilter):
    pass


class PlainNumberFilter(CopiedShallow, django_filters.NumberFilter):
    field_class = PlainDecimalField


class SharedFields(dict):  # type: ignore[type-arg]
    """A form class's fields, shared by every form of the class rather than
    deep-copied into each (what Django does, so that a form may change its
    own fields' widgets or choices); a filter set's forms only validate."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return dict(self)


def category_lookup(reference: str) -> dict[str, Any]:
    """How to find a category named by a client: its id (a UUID) or else its slug."""
    try:
        return {"public_id": UUID(reference)}
    except ValueError:
        return {"slug": reference}


class ProductFilter(django_filters.FilterSet):
    """Query parameters of the product list; a bad value is a 400 naming it."""

    category = CharFilter(method="filter_category", max_length=100)
    search = CharFilter(method="filter_search", max_length=100)
    min_price = PlainNumberFilter(field_name="price", lookup_expr="gte", min_value=0, max_value=MAX_PRICE, max_digits=12, decimal_places=2)
    max_price = PlainNumberFilter(field_name="price", lookup_expr="lte", min_value=0, max_value=MAX_PRICE, max_digits=12, decimal_places=2)
    in_stock = ChoiceFilter(choices=[("true", "true"), ("false", "false")], method="filter_in_stock")
    ordering = OrderingFilter(
        fields=[(name, name) for name in ORDERING_FIELDS],
        error_messages={"invalid_choice": f"%(value)s is not an ordering; use one of: {', '.join(ORDERING_VALUES)}."},
    )

    class Meta:
        model = Product
        fields: list[str] = []

    # The category filtered on, once the filter ran (None: no category).
    category_id: int | None = None

    def get_form_class(self) -> type[forms.Form]:
        """django-filter's form class, built once (it builds one, and every
        filter's field, for each filter set): from the first filter set's
        filters, bound to the model like every other's (the same fields and
        labels); its fields shared by its forms (:class:`SharedFields`)."""
        form_class: type[forms.Form] | None = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            form_class.base_fields = SharedFields(form_class.base_fields)
            type(self)._form_class = form_class
        return form_class

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
