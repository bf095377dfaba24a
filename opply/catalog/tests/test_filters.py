"""The product list's filter set: django-filter's, with cheap per-request copies (opply/catalog/filters.py)."""

import pytest
from django.http import QueryDict

from opply.catalog.filters import ProductFilter
from opply.catalog.models import Product
from opply.catalog.tests.factories import CategoryFactory
from opply.common.testing import assert_problem

pytestmark = pytest.mark.django_db

LIST = "/api/catalog/products/"


def filter_set(query: str) -> ProductFilter:
    return ProductFilter(QueryDict(query), queryset=Product.objects.all())


def test_the_form_class_and_its_fields_are_built_once_and_each_filter_set_has_its_own_filters():
    first, second = filter_set("min_price=1.00"), filter_set("min_price=2.00")

    assert first.get_form_class() is second.get_form_class()
    assert first.form.fields["min_price"] is second.form.fields["min_price"]
    assert first.form is not second.form
    assert first.filters["category"] is not second.filters["category"]
    assert (first.filters["category"].parent, second.filters["category"].parent) == (first, second)
    assert (first.form.is_valid(), second.form.is_valid()) == (True, True)
    assert (first.form.cleaned_data["min_price"], second.form.cleaned_data["min_price"]) == (1, 2)


def test_filter_sets_built_together_each_filter_their_own_category():
    tea, coffee = CategoryFactory(slug="tea"), CategoryFactory(slug="coffee")
    first, second = filter_set("category=tea"), filter_set("category=coffee")

    assert second.is_valid() and first.is_valid()
    second.qs, first.qs  # noqa: B018 - runs each filter set's category method

    assert (first.category_id, second.category_id) == (tea.id, coffee.id)
    assert ProductFilter.category_id is None


def test_every_bad_parameter_is_a_400_naming_it_with_its_message(customer_client):
    params = {
        "search": "x" * 101,
        "category": "y" * 101,
        "min_price": "1e2",
        "max_price": "99999999999.00",
        "in_stock": "maybe",
        "ordering": "sku",
    }
    price = "A price from 0 to 1000000.00 with at most two decimals, such as 12.50, is required."

    for _ in range(2):  # the second through the form class built by the first
        body = assert_problem(customer_client.get(LIST, params), 400, "validation_error")
        assert body["errors"] == {
            "search": ["Ensure this value has at most 100 characters (it has 101)."],
            "category": ["Ensure this value has at most 100 characters (it has 101)."],
            "min_price": [price],
            "max_price": [price],
            "in_stock": ["Select a valid choice. maybe is not one of the available choices."],
            "ordering": ["sku is not an ordering; use one of: name, -name, price, -price, created_at, -created_at."],
        }
