"""Orders in the admin: read-only, with actions that call the services.

Orders are written by ``opply.orders.services`` and ``opply.orders.lifecycle``
alone (stock, ledger, availability, events and idempotency move together); an
admin form editing a row would bypass all of that, so the admin can look but
not add, change or delete. Shipping and cancelling are actions that call the
same service functions as the staff API, one order at a time (each its own
transaction: one order refused does not stop the others).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from opply.common.errors import ApplicationError
from opply.orders import lifecycle, services
from opply.orders.models import Order, OrderLine


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class OrderLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderLine
    fields = ("product_id", "product_name", "unit_price", "quantity", "line_total")
    readonly_fields = fields
    extra = 0


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("public_id", "customer_id", "status", "total", "created_at", "status_changed_at")
    list_filter = ("status",)
    search_fields = ("=public_id", "=customer_id")
    date_hierarchy = "created_at"
    inlines = [OrderLineInline]
    actions = ["ship", "cancel"]

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_staff) and self.has_view_permission(request)

    def _each(self, request: HttpRequest, queryset: QuerySet[Order], verb: str, act: Callable[[Order], object]) -> None:
        done = 0
        for order in queryset.order_by("id"):
            try:
                act(order)
            except ApplicationError as exc:
                self.message_user(request, f"Order {order.public_id}: {exc.message}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} order(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Ship selected confirmed orders", permissions=["manage"])
    def ship(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._each(request, queryset, "shipped", lambda order: lifecycle.order_ship(order_id=order.public_id))

    @admin.action(description="Cancel selected confirmed orders (their stock returns)", permissions=["manage"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._each(request, queryset, "cancelled", lambda order: services.order_cancel(order_id=order.public_id, by="staff"))
