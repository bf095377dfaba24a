"""Orders are read-only in the admin: no path writes an order around the services."""

import pytest
from django.test import Client

from opply.catalog.tests.factories import make_product
from opply.identity.tests.factories import UserFactory
from opply.orders.models import Order, OrderLine
from opply.orders.tests.helpers import order

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def placed(customer_client):
    product = make_product(quantity=5, price="2.00")
    assert order(customer_client, (product, 2)).status_code == 201
    return Order.objects.get()


def test_an_order_can_be_viewed_with_its_lines(admin_client, placed):
    assert str(placed.public_id) in admin_client.get("/admin/orders/order/").content.decode()
    page = admin_client.get(f"/admin/orders/order/{placed.pk}/change/")

    assert page.status_code == 200
    assert "4.00" in page.content.decode()


def test_orders_cannot_be_added_changed_or_deleted(admin_client, placed):
    assert admin_client.get("/admin/orders/order/add/").status_code == 403
    assert admin_client.post(f"/admin/orders/order/{placed.pk}/change/", {"status": "cancelled", "total": "0"}).status_code == 403
    assert admin_client.post(f"/admin/orders/order/{placed.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(
        "/admin/orders/order/", {"action": "delete_selected", "_selected_action": [placed.pk], "post": "yes"}
    ).status_code in (
        200,
        302,
        403,
    )

    placed.refresh_from_db()
    assert (placed.status, str(placed.total)) == ("confirmed", "4.00")
    assert OrderLine.objects.filter(order=placed).count() == 1


def test_order_lines_are_not_in_the_admin_on_their_own(admin_client):
    assert admin_client.get("/admin/orders/orderline/").status_code == 404
