from django.urls import path, re_path

from opply.identity.apis import UUID_PATTERN
from opply.orders import apis

urlpatterns = [
    path("orders/", apis.OrderListCreateApi.as_view(), name="order-list"),
    re_path(rf"^orders/(?P<id>{UUID_PATTERN})/$", apis.OrderDetailApi.as_view(), name="order-detail"),
    re_path(rf"^orders/(?P<id>{UUID_PATTERN})/cancel/$", apis.OrderCancelApi.as_view(), name="order-cancel"),
]
