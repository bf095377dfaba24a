import pytest

from opply.catalog.models import Product, Stock, StockMovement
from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.common.testing import assert_problem

# Catalog writes bump the cache version after commit: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

LIST = "/api/catalog/products/"


def detail(product):
    return f"{LIST}{product.public_id}/"


def stock_url(product):
    return f"{LIST}{product.public_id}/stock/"


def create_payload(category_, **overrides):
    data = {"name": "Oat milk 1L", "sku": "OAT-1L", "price": "2.40", "category": str(category_.public_id), "quantity_in_stock": 17}
    data.update(overrides)
    return data


def test_staff_create_a_product_with_initial_stock(staff_client):
    category = CategoryFactory()

    response = staff_client.post(LIST, create_payload(category), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["sku"], body["price"], body["quantity_in_stock"]) == ("OAT-1L", "2.40", 17)
    product = Product.objects.get(public_id=body["id"])
    assert product.stock.on_hand == 17
    assert list(product.movements.values_list("delta", "reason")) == [(17, "initial")]


def test_a_new_product_is_visible_on_the_next_read_despite_the_cache(staff_client, customer_client):
    make_product()
    assert customer_client.get(LIST).json()["count"] == 1  # now cached

    staff_client.post(LIST, create_payload(CategoryFactory()), format="json")

    assert customer_client.get(LIST).json()["count"] == 2


def test_an_edit_is_visible_on_the_next_read_despite_the_cache(staff_client, customer_client):
    product = make_product(name="Old name", price="1.00")
    customer_client.get(LIST)

    response = staff_client.patch(detail(product), {"name": "New name", "price": "2.00"}, format="json")

    assert response.status_code == 200
    row = customer_client.get(LIST).json()["results"][0]
    assert (row["name"], row["price"]) == ("New name", "2.00")


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"price": "-1"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"price": "1" * 20}, "price"),
        ({"quantity_in_stock": -1}, "quantity_in_stock"),
        ({"quantity_in_stock": 10**12}, "quantity_in_stock"),
        ({"quantity_in_stock": "many"}, "quantity_in_stock"),
        ({"category": "not-a-uuid"}, "category"),
        ({"category": "00000000-0000-0000-0000-000000000000"}, "category"),
        ({"sku": ""}, "sku"),
        ({"sku": "has space"}, "sku"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"on_hand": 5}, "on_hand"),
    ],
)
def test_bad_create_input_is_400_and_writes_nothing(staff_client, overrides, field):
    body = assert_problem(staff_client.post(LIST, create_payload(CategoryFactory(), **overrides), format="json"), 400, "validation_error")

    assert field in body["errors"]
    assert not Product.objects.exists()
    assert not StockMovement.objects.exists()


def test_duplicate_sku_is_400(staff_client):
    make_product(sku="DUP-1")

    body = assert_problem(staff_client.post(LIST, create_payload(CategoryFactory(), sku="DUP-1"), format="json"), 400)
    assert "sku" in body["errors"]


def test_editing_the_stock_through_the_product_is_refused(staff_client):
    product = make_product(quantity=5)

    body = assert_problem(staff_client.patch(detail(product), {"quantity_in_stock": 100}, format="json"), 400)

    assert "quantity_in_stock" in body["errors"]
    assert Stock.objects.get(product=product).on_hand == 5


def test_put_needs_every_field(staff_client):
    product = make_product()

    body = assert_problem(staff_client.put(detail(product), {"name": "x"}, format="json"), 400)
    assert {"sku", "price", "category"} <= body["errors"].keys()


def test_delete_retires_the_product(staff_client, customer_client):
    product = make_product()
    customer_client.get(LIST)

    assert staff_client.delete(detail(product)).status_code == 204

    assert customer_client.get(LIST).json()["count"] == 0
    assert Product.objects.filter(pk=product.pk, is_active=False).exists()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_customers_get_403_on_every_product_write(customer_client, method):
    product = make_product(quantity=5)
    url = LIST if method == "post" else detail(product)

    assert_problem(getattr(customer_client, method)(url, {}, format="json"), 403)
    assert_problem(customer_client.post(stock_url(product), {"delta": 5}, format="json"), 403)
    assert Stock.objects.get(product=product).on_hand == 5


class TestStockAdjustment:
    def test_restock_and_write_off(self, staff_client):
        product = make_product(quantity=5)

        restock = staff_client.post(stock_url(product), {"delta": 10}, format="json")
        write_off = staff_client.post(stock_url(product), {"delta": -3}, format="json")

        assert restock.json()["on_hand"] == 15
        assert write_off.json() == {"id": str(product.public_id), "on_hand": 12, "quantity_in_stock": 12}
        assert list(product.movements.order_by("id").values_list("delta", "reason")) == [(5, "initial"), (10, "restock"), (-3, "write_off")]

    def test_stock_count_sets_the_quantity(self, staff_client):
        product = make_product(quantity=5)

        assert staff_client.post(stock_url(product), {"quantity": 2}, format="json").json()["on_hand"] == 2
        assert list(product.movements.order_by("id").values_list("delta", "reason")) == [(5, "initial"), (-3, "count")]

    def test_never_below_zero(self, staff_client):
        product = make_product(quantity=5)

        body = assert_problem(staff_client.post(stock_url(product), {"delta": -6}, format="json"), 409, "stock_below_zero")

        assert body["on_hand"] == 5
        assert Stock.objects.get(product=product).on_hand == 5
        assert product.movements.count() == 1

    @pytest.mark.parametrize(
        "payload",
        [
            {},
            {"delta": 1, "quantity": 1},
            {"delta": 0},
            {"quantity": -1},
            {"delta": "x"},
            {"delta": 10**10},
            {"on_hand": 3},
            {"delta": 1.5},
        ],
    )
    def test_bad_input_is_400_and_changes_nothing(self, staff_client, payload):
        product = make_product(quantity=5)

        assert_problem(staff_client.post(stock_url(product), payload, format="json"), 400, "validation_error")
        assert Stock.objects.get(product=product).on_hand == 5

    def test_running_out_leaves_the_list_and_coming_back_returns(self, staff_client, customer_client):
        product = make_product(quantity=2)
        assert customer_client.get(LIST).json()["count"] == 1

        staff_client.post(stock_url(product), {"quantity": 0}, format="json")
        assert customer_client.get(LIST).json()["count"] == 0
        assert customer_client.get(detail(product)).json()["quantity_in_stock"] == 0

        staff_client.post(stock_url(product), {"delta": 4}, format="json")
        listed = customer_client.get(LIST).json()
        assert listed["count"] == 1
        assert listed["results"][0]["quantity_in_stock"] == 4

    def test_quantities_are_live_even_when_the_page_is_cached(self, staff_client, customer_client):
        product = make_product(quantity=9)
        customer_client.get(LIST)

        staff_client.post(stock_url(product), {"delta": -4}, format="json")

        assert customer_client.get(LIST).json()["results"][0]["quantity_in_stock"] == 5


class TestCategories:
    URL = "/api/catalog/categories/"

    def test_everyone_reads_staff_write(self, customer_client, staff_client):
        created = staff_client.post(self.URL, {"name": "Coffee", "slug": "coffee"}, format="json")
        assert created.status_code == 201
        assert customer_client.get(self.URL).json()["results"] == [created.json()]
        assert_problem(customer_client.post(self.URL, {"name": "X", "slug": "x"}, format="json"), 403)

        url = f"{self.URL}{created.json()['id']}/"
        assert staff_client.patch(url, {"name": "Coffees"}, format="json").json()["name"] == "Coffees"
        assert staff_client.delete(url).status_code == 204

    def test_duplicate_or_bad_slug_is_400(self, staff_client):
        CategoryFactory(slug="coffee")

        assert "slug" in assert_problem(staff_client.post(self.URL, {"name": "C", "slug": "coffee"}, format="json"), 400)["errors"]
        assert "slug" in assert_problem(staff_client.post(self.URL, {"name": "C", "slug": "not a slug"}, format="json"), 400)["errors"]

    def test_a_category_with_products_cannot_be_deleted(self, staff_client):
        product = make_product()

        assert_problem(staff_client.delete(f"{self.URL}{product.category.public_id}/"), 409, "category_in_use")

    def test_renaming_a_category_shows_in_the_product_list(self, staff_client, customer_client):
        product = make_product()
        customer_client.get(LIST)

        staff_client.patch(f"{self.URL}{product.category.public_id}/", {"name": "Renamed"}, format="json")

        assert customer_client.get(LIST).json()["results"][0]["category"]["name"] == "Renamed"
