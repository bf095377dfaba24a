"""What a newcomer meets first: an API root, consistent timestamps and ids, Location headers, one-call sign-up."""

import re

import pytest
from rest_framework.test import APIClient

from opply.catalog.tests.factories import CategoryFactory, make_product

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

Z_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def test_the_api_root_links_every_module_and_the_docs_for_anyone():
    response = APIClient().get("/api/", HTTP_AUTHORIZATION="Bearer garbage")

    assert response.status_code == 200
    body = response.json()
    assert body["catalog"]["products"] == "http://testserver/api/catalog/products/"
    assert body["identity"]["register"] == "http://testserver/api/identity/register/"
    assert body["orders"]["orders"] == "http://testserver/api/orders/orders/"
    assert body["docs"] == {"docs": "http://testserver/api/docs/", "schema": "http://testserver/api/schema/"}
    client = APIClient()
    for links in body.values():
        for url in links.values():
            assert client.get(url).status_code != 404, url  # every link resolves (GET may be 401 or 405)


def test_every_timestamp_has_one_format(customer_client, staff_client, customer):
    product = make_product(quantity=5)
    timestamps = []
    detail = staff_client.get(f"/api/catalog/products/{product.public_id}/").json()
    timestamps += [detail["created_at"], detail["updated_at"]]
    order = customer_client.post("/api/orders/orders/", {"items": [{"product_id": str(product.public_id), "quantity": 1}]}, format="json")
    timestamps.append(order.json()["created_at"])
    timestamps.append(customer_client.get("/api/orders/orders/").json()["results"][0]["created_at"])
    cart = customer_client.post("/api/orders/cart/items/", {"product_id": str(product.public_id), "quantity": 1}, format="json")
    timestamps.append(cart.json()["expires_at"])
    timestamps.append(staff_client.get(f"/api/identity/customers/{customer.public_id}/").json()["date_joined"])

    assert all(Z_TIMESTAMP.fullmatch(value) for value in timestamps), timestamps


def test_the_category_filter_takes_a_slug_or_an_id(customer_client):
    category = CategoryFactory(slug="coffee")
    product = make_product(quantity=5, category=category)
    make_product(quantity=5)

    for value in ("coffee", str(category.public_id), category.public_id.hex):
        ids = [row["id"] for row in customer_client.get("/api/catalog/products/", {"category": value}).json()["results"]]
        assert ids == [str(product.public_id)], value


def test_a_product_is_created_in_a_category_named_by_id_or_slug(staff_client):
    category = CategoryFactory(slug="tea")

    for sku, reference in [("T-1", str(category.public_id)), ("T-2", "tea")]:
        body = {"name": "Green tea", "sku": sku, "price": "3.00", "category": reference, "quantity_in_stock": 1}
        response = staff_client.post("/api/catalog/products/", body, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["category"]["slug"] == "tea"


def test_created_resources_answer_with_their_location(staff_client, customer_client):
    category = staff_client.post("/api/catalog/categories/", {"name": "Dairy", "slug": "dairy"}, format="json")
    product = staff_client.post(
        "/api/catalog/products/",
        {"name": "Milk", "sku": "M-1", "price": "1.00", "category": "dairy", "quantity_in_stock": 5},
        format="json",
    )
    customer = staff_client.post(
        "/api/identity/customers/", {"username": "bob", "email": "bob@example.com", "password": "an-uncommon-passphrase-42"}, format="json"
    )
    items = {"items": [{"product_id": product.json()["id"], "quantity": 1}]}
    order = customer_client.post("/api/orders/orders/", items, format="json")
    replayed = [customer_client.post("/api/orders/orders/", items, format="json", HTTP_IDEMPOTENCY_KEY="k-1") for _ in range(2)]
    customer_client.post("/api/orders/cart/items/", {"product_id": product.json()["id"], "quantity": 1}, format="json")
    checkout = customer_client.post("/api/orders/cart/checkout/", format="json")

    for response in (category, product, customer, order, *replayed, checkout):
        assert response.status_code == 201, response.content
        assert response["Location"].startswith("http://testserver/api/")
        assert response["Location"].endswith(f"/{response.json()['id']}/")
        assert staff_client.get(response["Location"]).status_code in (200, 404)  # staff cannot read a customer's own order here
    assert customer_client.get(order["Location"]).status_code == 200
    assert replayed[1]["Idempotent-Replayed"] == "true"
    assert replayed[0]["Location"] == replayed[1]["Location"]


def test_registration_returns_the_customer_and_a_first_token_pair():
    client = APIClient()
    response = client.post(
        "/api/identity/register/", {"username": "ada", "email": "ada@example.com", "password": "an-uncommon-passphrase-42"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "ada"
    assert response["Location"].endswith(f"/api/identity/customers/{body['id']}/")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert client.get("/api/identity/customers/me/").json()["id"] == body["id"]
    assert client.post("/api/identity/token/refresh/", {"refresh": body["refresh"]}, format="json").status_code == 200
