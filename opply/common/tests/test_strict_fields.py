"""JSON types are taken at their word: no guessing what a client meant."""

import importlib
import pkgutil

import pytest
from rest_framework import serializers

import opply
from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.common.serializers import StrictSerializer
from opply.common.testing import assert_problem

pytestmark = pytest.mark.django_db

LOOSE_INTEGERS = ["1_0", "\u0661", "1e2", "10", 1.5, 2.0, True, None, [], {}]


def _all_strict_serializers() -> list[type]:
    for module in pkgutil.walk_packages(opply.__path__, "opply."):
        if ".tests" not in module.name and ".migrations" not in module.name:
            importlib.import_module(module.name)
    found, stack = [], [StrictSerializer]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__.startswith("opply.") and cls.__module__ != "opply.common.serializers"]


@pytest.mark.parametrize("serializer_class", _all_strict_serializers(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_input_field_of_every_input_serializer_is_strict(serializer_class):
    from opply.common.serializers import STRICT_INPUT_FIELDS

    loose = []
    for name, field in serializer_class().fields.items():
        if field.read_only:
            continue
        if isinstance(field, serializers.ListField):
            field = field.child
        if isinstance(field, serializers.Serializer):
            continue  # a nested input serializer is checked on its own
        if not isinstance(field, STRICT_INPUT_FIELDS):
            loose.append(f"{name}: {type(field).__name__}")
    assert not loose, f"{serializer_class.__name__} has coercing input fields: {loose}"


@pytest.mark.parametrize("quantity", LOOSE_INTEGERS)
def test_order_quantities_must_be_json_integers(customer_client, quantity):
    product = make_product(quantity=500)

    response = customer_client.post(
        "/api/orders/orders/", {"items": [{"product_id": str(product.public_id), "quantity": quantity}]}, format="json"
    )

    body = assert_problem(response, 400, "validation_error")
    assert "quantity" in body["errors"]["items"]["0"]


@pytest.mark.parametrize("quantity", LOOSE_INTEGERS)
def test_cart_quantities_must_be_json_integers(customer_client, quantity):
    product = make_product(quantity=500)

    response = customer_client.post("/api/orders/cart/items/", {"product_id": str(product.public_id), "quantity": quantity}, format="json")

    assert "quantity" in assert_problem(response, 400, "validation_error")["errors"]


@pytest.mark.parametrize("delta", LOOSE_INTEGERS)
def test_stock_deltas_must_be_json_integers(staff_client, delta):
    product = make_product(quantity=5)

    response = staff_client.post(f"/api/catalog/products/{product.public_id}/stock/", {"delta": delta}, format="json")

    assert "delta" in assert_problem(response, 400, "validation_error")["errors"]


@pytest.mark.parametrize("product_id", [5, 0, True, ["x"], "urn:uuid:12345678-1234-5678-1234-567812345678"])
def test_product_ids_must_be_uuid_strings(customer_client, product_id):
    response = customer_client.post("/api/orders/cart/items/", {"product_id": product_id, "quantity": 1}, format="json")

    assert "product_id" in assert_problem(response, 400, "validation_error")["errors"]


@pytest.mark.parametrize("field,value", [("company_name", 0), ("first_name", 1.5), ("email", 7), ("username", 12345)])
def test_register_text_fields_must_be_strings(api_client, field, value):
    body = {"username": "ada", "email": "ada@example.com", "password": "an-uncommon-passphrase-42", field: value}

    assert field in assert_problem(api_client.post("/api/identity/register/", body, format="json"), 400)["errors"]


@pytest.mark.parametrize("field,value", [("username", 0), ("password", 123456789)])
def test_login_fields_must_be_strings(api_client, field, value):
    body = {"username": "ada", "password": "an-uncommon-passphrase-42", field: value}

    assert field in assert_problem(api_client.post("/api/identity/token/", body, format="json"), 400)["errors"]


@pytest.mark.parametrize("field,value", [("slug", 0), ("name", 0), ("slug", True)])
def test_category_text_fields_must_be_strings(staff_client, field, value):
    body = {"name": "Coffee", "slug": "coffee", field: value}

    assert field in assert_problem(staff_client.post("/api/catalog/categories/", body, format="json"), 400)["errors"]


@pytest.mark.parametrize(
    "price", ["1e2", "1_0", "\u0661\u0662", "Infinity", "NaN", 1e20, 12.5, 12, True, " 12 .5", "-0", "1000000.01", "0001000000"]
)
def test_prices_must_be_plain_decimals(staff_client, price):
    body = {"name": "Beans", "sku": "BEANS-1", "price": price, "category": str(CategoryFactory().public_id), "quantity_in_stock": 1}

    assert "price" in assert_problem(staff_client.post("/api/catalog/products/", body, format="json"), 400)["errors"]


def test_plain_decimal_prices_are_accepted_as_strings(staff_client):
    category = CategoryFactory()
    for sku, price in [("A-1", "12.50"), ("A-2", "12.5"), ("A-3", "12")]:
        body = {"name": "Beans", "sku": sku, "price": price, "category": str(category.public_id), "quantity_in_stock": 1}
        response = staff_client.post("/api/catalog/products/", body, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["price"] == f"{float(price):.2f}"


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_booleans_must_be_json_booleans(staff_client, value):
    product = make_product(quantity=1)

    response = staff_client.patch(f"/api/catalog/products/{product.public_id}/", {"is_active": value}, format="json")

    assert "is_active" in assert_problem(response, 400, "validation_error")["errors"]


@pytest.mark.parametrize("value", ["1e2", "1_0", "\u0661"])
def test_price_filters_must_be_plain_decimals(customer_client, value):
    response = customer_client.get("/api/catalog/products/", {"min_price": value})

    assert "min_price" in assert_problem(response, 400, "validation_error")["errors"]


@pytest.mark.parametrize("value", ["1_0", "\u0661", " 2", "+2", "1e2", "99999999999999999999"])
def test_page_parameters_must_be_plain_digits(customer_client, value):
    response = customer_client.get("/api/orders/orders/", {"page_size": value})

    assert "page_size" in assert_problem(response, 400, "validation_error")["errors"]


@pytest.mark.parametrize(
    "query,param",
    [
        ("page=1&page=2", "page"),
        ("page_size=5&page_size=6", "page_size"),
        ("min_price=1&min_price=2", "min_price"),
        ("ordering=name&ordering=price", "ordering"),
        ("min_price=", "min_price"),
        ("in_stock=", "in_stock"),
        ("page=last", "page"),
    ],
)
def test_query_parameters_are_given_once_and_not_empty(customer_client, query, param):
    make_product(quantity=1)

    response = customer_client.get(f"/api/catalog/products/?{query}")

    assert param in assert_problem(response, 400, "validation_error")["errors"]


@pytest.mark.parametrize("query", ["page=1&page=2", "page_size=5&page_size=6", "page=last"])
def test_paginated_lists_refuse_repeated_page_parameters_too(customer_client, query):
    assert_problem(customer_client.get(f"/api/orders/orders/?{query}"), 400, "validation_error")


@pytest.mark.parametrize("value", ["\u000b", " ", "x" * 10])
def test_a_whitespace_or_garbage_refresh_token_is_a_401_not_a_400(api_client, customer_client, value):
    assert_problem(api_client.post("/api/identity/token/refresh/", {"refresh": value}, format="json"), 401, "token_not_valid")
    assert_problem(customer_client.post("/api/identity/token/revoke/", {"refresh": value}, format="json"), 401, "token_not_valid")


def test_max_length_counts_the_text_as_sent_not_as_trimmed(customer_client):
    response = customer_client.patch("/api/identity/customers/me/", {"company_name": " " + "x" * 255}, format="json")

    assert "company_name" in assert_problem(response, 400, "validation_error")["errors"]
