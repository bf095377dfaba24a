"""The catalog admin writes only through the catalog services; stock and ledger cannot be edited."""

import pytest
from django.test import Client

from opply.catalog import inventory
from opply.catalog.cache import VERSION_KEY
from opply.catalog.models import Category, Product, Stock, StockMovement
from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.common.redis import get_redis
from opply.identity.tests.factories import UserFactory

# The services commit and publish to Redis after commit.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def admin_user():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("model", ["catalog/category", "catalog/product", "catalog/stockmovement", "orders/order"])
def test_the_catalog_and_orders_are_in_the_admin(admin_client, model):
    make_product(quantity=3)

    assert admin_client.get(f"/admin/{model}/").status_code == 200


def test_adding_a_product_creates_its_stock_and_ledger_through_the_service(admin_client, admin_user):
    category = CategoryFactory()
    get_redis().set(VERSION_KEY, "before")

    response = admin_client.post(
        "/admin/catalog/product/add/",
        {"sku": "ADM-1", "name": "Admin beans", "category": category.pk, "price": "4.20", "quantity_in_stock": 7},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    product = Product.objects.get(sku="ADM-1")
    assert Stock.objects.get(product=product).on_hand == 7
    assert list(StockMovement.objects.filter(product=product).values_list("delta", "reason", "reference")) == [
        (7, "initial", f"user:{admin_user.public_id}")
    ]
    assert product.in_stock
    assert get_redis().get(VERSION_KEY) != "before"


def test_editing_a_product_cannot_touch_its_stock(admin_client):
    product = make_product(quantity=5, price="1.00")
    page = admin_client.get(f"/admin/catalog/product/{product.pk}/change/")
    assert "on_hand" not in page.context["adminform"].form.fields
    get_redis().set(VERSION_KEY, "before")

    response = admin_client.post(
        f"/admin/catalog/product/{product.pk}/change/",
        {"sku": product.sku, "name": "Renamed", "category": product.category_id, "price": "2.00", "is_active": "on", "on_hand": 999},
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, str(product.price)) == ("Renamed", "2.00")
    assert Stock.objects.get(product=product).on_hand == 5
    assert get_redis().get(VERSION_KEY) != "before"


def test_stock_is_adjusted_through_the_service(admin_client, admin_user):
    product = make_product(quantity=5)
    inventory.available([product.id])  # the availability store knows the product

    response = admin_client.post(f"/admin/catalog/product/{product.pk}/stock/", {"delta": "3"})

    assert response.status_code == 302
    assert Stock.objects.get(product=product).on_hand == 8
    assert inventory.available([product.id])[product.id] == 8
    assert StockMovement.objects.filter(product=product, reason="restock", delta=3, reference=f"user:{admin_user.public_id}").exists()

    assert admin_client.post(f"/admin/catalog/product/{product.pk}/stock/", {"quantity": "2"}).status_code == 302
    assert Stock.objects.get(product=product).on_hand == 2


def test_a_stock_adjustment_below_zero_is_refused_and_changes_nothing(admin_client):
    product = make_product(quantity=5)

    response = admin_client.post(f"/admin/catalog/product/{product.pk}/stock/", {"delta": "-6"})

    assert response.status_code == 200
    assert "cannot remove 6" in response.content.decode()
    assert Stock.objects.get(product=product).on_hand == 5
    assert StockMovement.objects.filter(product=product).count() == 1


def test_staff_without_the_stock_permission_cannot_adjust_stock():
    product = make_product(quantity=5)
    client = Client()
    client.force_login(UserFactory(is_staff=True))

    assert client.post(f"/admin/catalog/product/{product.pk}/stock/", {"delta": "3"}).status_code == 403
    assert Stock.objects.get(product=product).on_hand == 5


def test_the_stock_table_itself_is_not_in_the_admin(admin_client):
    product = make_product(quantity=5)

    assert admin_client.get("/admin/catalog/stock/").status_code == 404
    assert admin_client.get(f"/admin/catalog/stock/{product.pk}/change/").status_code == 404


def test_products_are_retired_not_deleted(admin_client):
    product = make_product(quantity=5)

    assert admin_client.post(f"/admin/catalog/product/{product.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Product.objects.filter(pk=product.pk).exists()


def test_the_ledger_is_read_only(admin_client):
    product = make_product(quantity=5)
    movement = StockMovement.objects.get(product=product)

    assert admin_client.get("/admin/catalog/stockmovement/add/").status_code == 403
    assert admin_client.post(f"/admin/catalog/stockmovement/{movement.pk}/change/", {"delta": "500"}).status_code == 403
    assert admin_client.post(f"/admin/catalog/stockmovement/{movement.pk}/delete/", {"post": "yes"}).status_code == 403
    movement.refresh_from_db()
    assert movement.delta == 5


def test_categories_are_written_through_the_service(admin_client):
    get_redis().set(VERSION_KEY, "before")

    assert admin_client.post("/admin/catalog/category/add/", {"name": "Coffee", "slug": "coffee"}).status_code == 302

    assert Category.objects.filter(slug="coffee").exists()
    assert get_redis().get(VERSION_KEY) != "before"
