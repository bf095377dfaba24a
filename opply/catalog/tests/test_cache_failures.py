"""The list when Redis, which holds the page cache, is down: served from the database."""

import pytest

from opply.catalog.tests.factories import make_product

pytestmark = pytest.mark.django_db

LIST = "/api/catalog/products/"


def test_the_list_is_served_from_the_database_when_redis_is_down(customer_client, redis_down, django_assert_num_queries):
    product = make_product(quantity=4, name="Still here")

    # the user (authentication falls back to the database), the count's
    # estimate and the count, page, quantities
    with django_assert_num_queries(5):
        first = customer_client.get(LIST)
    second = customer_client.get(LIST)

    assert first.status_code == second.status_code == 200
    assert first.json()["results"][0]["id"] == str(product.public_id)
    assert first.json()["results"][0]["quantity_in_stock"] == 4
    assert customer_client.get(f"{LIST}{product.public_id}/").status_code == 200
