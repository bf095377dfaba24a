from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "opply.orders"
    label = "orders"
    verbose_name = "Orders"
