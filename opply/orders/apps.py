from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "opply.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        # Orders accepted but not yet fulfilled hold stock that only
        # PostgreSQL remembers once Redis is lost: a rebuilt store holds it again.
        from opply.catalog import reservations
        from opply.orders.fulfilment import any_pending, pending_holds

        reservations.register_pending_holds(pending_holds, any_pending=any_pending)
