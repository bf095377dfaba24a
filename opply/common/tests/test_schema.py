"""The OpenAPI contract says what the server does: errors, bounds, strict bodies, pinned docs."""

import pytest
from django.contrib.staticfiles import finders
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_documents_its_errors_as_problem_json(schema):
    assert schema["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail", "code"]
    for path, method, operation in operations(schema):
        codes = {code for code in operation["responses"] if code.startswith("4")}
        assert {"400", "429"} <= codes, (method, path)
        if operation.get("security") and {} not in operation["security"]:
            assert {"401", "403"} <= codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        for code, response in operation["responses"].items():
            if code[0] in "45":
                assert response["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_pages_are_bounded(schema):
    for path in ("/api/catalog/products/", "/api/orders/orders/", "/api/identity/customers/", "/api/catalog/categories/"):
        parameters = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        assert parameters["page"]["minimum"] == 1, path
        assert parameters["page_size"]["minimum"] == 1, path


def test_order_items_are_bounded_and_strict_bodies_say_so(schema):
    components = schema["components"]["schemas"]
    items = components["OrderInputRequest"]["properties"]["items"]

    assert (items["minItems"], items["maxItems"]) == (1, 100)
    for name in ("OrderInputRequest", "OrderItemInputRequest", "CartItemInputRequest", "ProductCreateRequest", "TokenObtainRequest"):
        assert components[name]["additionalProperties"] is False, name
    # Exactly one of delta and quantity, each alone.
    branches = components["StockAdjustRequest"]["oneOf"]
    assert [(b["required"], b["additionalProperties"]) for b in branches] == [(["delta"], False), (["quantity"], False)]


def test_product_update_does_not_advertise_stock(schema):
    components = schema["components"]["schemas"]

    assert "quantity_in_stock" not in components["ProductUpdateRequest"]["properties"]
    assert "quantity_in_stock" not in components["PatchedProductUpdateRequest"]["properties"]


def test_the_token_endpoint_documents_its_response(schema):
    ok = schema["paths"]["/api/identity/token/"]["post"]["responses"]["200"]

    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TokenPair"}
    assert "401" in schema["paths"]["/api/identity/token/"]["post"]["responses"]


def test_no_internal_docstring_is_copied_into_every_schema(schema):
    descriptions = [component.get("description", "") for component in schema["components"]["schemas"].values()]

    assert not any("Rejects fields it does not know" in text for text in descriptions)


def test_orderings_are_listed(schema):
    parameters = {p["name"]: p for p in schema["paths"]["/api/catalog/products/"]["get"]["parameters"]}

    assert parameters["ordering"]["schema"]["enum"] == ["name", "-name", "price", "-price", "created_at", "-created_at"]
    assert parameters["page"]["schema"]["maximum"] == 100
    assert "cursor" in parameters


def test_the_docs_load_pinned_assets_from_this_server():
    page = APIClient().get("/api/docs/").content.decode()

    assert "cdn.jsdelivr.net" not in page
    assert "@latest" not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_statuses_found_by_fuzzing_are_documented(schema):
    paths = schema["paths"]

    assert all("414" in operation["responses"] for _, _, operation in operations(schema))
    assert "409" in paths["/api/catalog/categories/{id}/"]["delete"]["responses"]
    assert "409" in paths["/api/catalog/products/{id}/stock/"]["post"]["responses"]
    key = next(p for p in paths["/api/orders/orders/"]["post"]["parameters"] if p["name"] == "Idempotency-Key")
    assert key["schema"]["maxLength"] == 255
    assert key["schema"]["pattern"].startswith("^[\\x21-\\x7e]")
