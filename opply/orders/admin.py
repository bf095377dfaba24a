"""Orders in the admin: read-only.

Orders are written by ``opply.orders.services`` alone (stock, ledger,
availability and idempotency move together); an admin form editing a row
would bypass all of that, so the admin can look but not add, change or delete.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

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
    list_display = ("public_id", "customer_id", "status", "total", "created_at")
    list_filter = ("status",)
    search_fields = ("=public_id", "=customer_id")
    date_hierarchy = "created_at"
    inlines = [OrderLineInline]
