from django.urls import path, re_path

from opply.identity.apis import UUID_PATTERN
from opply.orders import apis, cart_apis

urlpatterns = [
    path("cart/", cart_apis.CartApi.as_view(), name="cart"),
    path("cart/items/", cart_apis.CartItemsApi.as_view(), name="cart-items"),
    re_path(rf"^cart/items/(?P<product_id>{UUID_PATTERN})/$", cart_apis.CartItemApi.as_view(), name="cart-item"),
    path("cart/checkout/", cart_apis.CheckoutApi.as_view(), name="cart-checkout"),
    path("orders/", apis.OrderListCreateApi.as_view(), name="order-list"),
    re_path(rf"^orders/(?P<id>{UUID_PATTERN})/$", apis.OrderDetailApi.as_view(), name="order-detail"),
    re_path(rf"^orders/(?P<id>{UUID_PATTERN})/cancel/$", apis.OrderCancelApi.as_view(), name="order-cancel"),
]
