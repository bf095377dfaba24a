from django.urls import path

from opply.orders import apis, cart_apis, staff_apis

urlpatterns = [
    path("cart/", cart_apis.CartApi.as_view(), name="cart"),
    path("cart/items/", cart_apis.CartItemsApi.as_view(), name="cart-items"),
    path("cart/items/<uuid:product_id>/", cart_apis.CartItemApi.as_view(), name="cart-item"),
    path("cart/checkout/", cart_apis.CheckoutApi.as_view(), name="cart-checkout"),
    path("orders/", apis.OrderListCreateApi.as_view(), name="order-list"),
    path("orders/<uuid:id>/", apis.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<uuid:id>/cancel/", apis.OrderCancelApi.as_view(), name="order-cancel"),
    path("staff/orders/", staff_apis.StaffOrderListApi.as_view(), name="staff-order-list"),
    path("staff/orders/<uuid:id>/", staff_apis.StaffOrderDetailApi.as_view(), name="staff-order-detail"),
    path("staff/orders/<uuid:id>/ship/", staff_apis.StaffOrderShipApi.as_view(), name="staff-order-ship"),
    path("staff/orders/<uuid:id>/cancel/", staff_apis.StaffOrderCancelApi.as_view(), name="staff-order-cancel"),
]
