"""Stock and prices stay inside what their columns hold: 400s, never a 500."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from opply.catalog.models import Product, Stock, StockMovement
from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.common.testing import assert_problem

pytestmark = pytest.mark.django_db

# opply.catalog.models.MAX_ON_HAND and MAX_PRICE (literals, so that this file
# also runs, and fails, against the code before the limits existed).
MAX_ON_HAND = 1_000_000_000
MAX_PRICE = Decimal("1000000.00")


def stock_url(product):
    return f"/api/catalog/products/{product.public_id}/stock/"


def test_restocking_past_the_limit_is_a_400_naming_delta_and_changes_nothing(staff_client):
    product = make_product(quantity=0)

    assert staff_client.post(stock_url(product), {"delta": 1_000_000_000}, format="json").status_code == 200
    body = assert_problem(staff_client.post(stock_url(product), {"delta": 1_000_000_000}, format="json"), 400, "stock_above_limit")

    assert "delta" in body["errors"]
    assert Stock.objects.get(product=product).on_hand == MAX_ON_HAND
    assert StockMovement.objects.filter(product=product).count() == 1


def test_a_single_adjustment_past_the_limit_is_a_400(staff_client):
    product = make_product(quantity=5)

    for body in ({"delta": MAX_ON_HAND + 1}, {"quantity": MAX_ON_HAND + 1}, {"delta": -MAX_ON_HAND - 1}):
        field = next(iter(body))
        assert field in assert_problem(staff_client.post(stock_url(product), body, format="json"), 400)["errors"]
    assert Stock.objects.get(product=product).on_hand == 5


def test_initial_stock_and_price_are_bounded(staff_client):
    category = CategoryFactory()
    base = {"name": "Beans", "sku": "B-1", "price": "1.00", "category": str(category.public_id), "quantity_in_stock": 1}

    for field, value in [("quantity_in_stock", MAX_ON_HAND + 1), ("price", str(MAX_PRICE + 1)), ("price", "9999999999.99")]:
        response = staff_client.post("/api/catalog/products/", {**base, field: value}, format="json")
        assert field in assert_problem(response, 400, "validation_error")["errors"]
    assert not Product.objects.exists()


def test_the_limits_are_the_ones_documented():
    from opply.catalog import models

    assert (models.MAX_ON_HAND, models.MAX_PRICE) == (MAX_ON_HAND, MAX_PRICE)


def test_the_database_refuses_stock_and_prices_out_of_bounds():
    product = make_product(quantity=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        Stock.objects.filter(product=product).update(on_hand=MAX_ON_HAND + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(price=MAX_PRICE + Decimal("0.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        StockMovement.objects.create(product=product, delta=MAX_ON_HAND + 1, reason="restock")


@pytest.mark.parametrize("param,value", [("search", "x" * 101), ("category", "x" * 101), ("min_price", "99999999999.00")])
def test_list_filters_are_bounded(customer_client, param, value):
    assert param in assert_problem(customer_client.get("/api/catalog/products/", {param: value}), 400)["errors"]


def test_a_bad_ordering_lists_the_allowed_values(customer_client):
    body = assert_problem(customer_client.get("/api/catalog/products/", {"ordering": "sku"}), 400, "validation_error")

    message = body["errors"]["ordering"][0]
    for value in ("name", "-name", "price", "-price", "created_at", "-created_at"):
        assert value in message
