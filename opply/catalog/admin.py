"""Staff maintain the catalog in the admin through the same services as the API.

Every write goes through ``opply.catalog.services``: the catalog version is
bumped, a product is created with its stock row and ledger entry, and stock
changes only through ``stock_adjust`` (the "Adjust stock" page of a product),
never by editing a row. The stock table is not registered at all; the ledger
is read-only; products are retired (``is_active``), not deleted.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from opply.catalog import services
from opply.catalog.models import MAX_ON_HAND, Category, Product, StockMovement
from opply.common.errors import ApplicationError


def _actor(request: HttpRequest) -> str:
    return f"user:{request.user.public_id}"  # type: ignore[union-attr]


def _changed(form: forms.ModelForm) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}


def _copy_saved(target: Any, saved: Any) -> None:
    """The admin goes on with the instance it built; give it the saved row's identity."""
    target.pk, target.public_id = saved.pk, saved.public_id


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "public_id")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("public_id",)

    def save_model(self, request: HttpRequest, obj: Category, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.category_update(category=obj, data=_changed(form))
        else:
            _copy_saved(obj, services.category_create(name=obj.name, slug=obj.slug))

    def delete_model(self, request: HttpRequest, obj: Category) -> None:
        services.category_delete(category=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Category]) -> None:
        for category in queryset:
            services.category_delete(category=category)


class ProductAddForm(forms.ModelForm):
    quantity_in_stock = forms.IntegerField(min_value=0, max_value=MAX_ON_HAND, label="Initial stock on hand")

    class Meta:
        model = Product
        fields = ("sku", "name", "category", "price")


class StockAdjustForm(forms.Form):
    delta = forms.IntegerField(required=False, min_value=-MAX_ON_HAND, max_value=MAX_ON_HAND, help_text="Restock (> 0) or write-off (< 0).")
    quantity = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_ON_HAND, help_text="Or a stock count: the new on-hand quantity."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        given = [name for name in ("delta", "quantity") if data.get(name) is not None]
        if len(given) != 1:
            raise forms.ValidationError("Give exactly one of delta and quantity.")
        if data.get("delta") == 0:
            raise forms.ValidationError("A delta of zero changes nothing.")
        return {name: data[name] for name in given}


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "category", "price", "on_hand", "in_stock", "is_active")
    list_filter = ("is_active", "in_stock", "category")
    list_select_related = ("category", "stock")
    search_fields = ("sku", "name")
    fields = ("public_id", "sku", "name", "category", "price", "is_active", "on_hand", "in_stock", "created_at", "updated_at")
    readonly_fields = ("public_id", "on_hand", "in_stock", "created_at", "updated_at")

    @admin.display(description="on hand")
    def on_hand(self, obj: Product) -> Any:
        if obj.pk is None:
            return "-"
        link = reverse("admin:catalog_product_stock", args=[obj.pk])
        return format_html('{} &nbsp; <a href="{}">Adjust stock</a>', obj.stock.on_hand, link)

    def get_form(self, request: HttpRequest, obj: Product | None = None, change: bool = False, **kwargs: Any) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = ProductAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Product | None = None) -> Any:
        if obj is None:
            return ("sku", "name", "category", "price", "quantity_in_stock")
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Product | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Product, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.product_update(product=obj, data=_changed(form))
            return
        data = form.cleaned_data
        created = services.product_create(
            sku=data["sku"],
            name=data["name"],
            price=data["price"],
            category=data["category"],
            quantity_in_stock=data["quantity_in_stock"],
            actor=_actor(request),
        )
        _copy_saved(obj, created)

    def has_delete_permission(self, request: HttpRequest, obj: Product | None = None) -> bool:
        # Retire a product (untick "is active"): the ledger and orders refer to it.
        return False

    def get_urls(self) -> list:  # type: ignore[type-arg]
        return [
            path("<path:object_id>/stock/", self.admin_site.admin_view(self.stock_view), name="catalog_product_stock"),
            *super().get_urls(),
        ]

    def stock_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Adjust a product's stock through ``services.stock_adjust``, as the API does."""
        if not request.user.has_perm("catalog.change_stock"):
            raise PermissionDenied
        product = get_object_or_404(Product.objects.select_related("stock", "category"), pk=object_id)
        form = StockAdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                on_hand = services.stock_adjust(product=product, **form.cleaned_data, actor=_actor(request))
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"{product.sku}: {on_hand} on hand.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:catalog_product_change", args=[product.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust stock: {product}",
            "product": product,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/catalog/product/stock.html", context)


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    """The ledger: append-only, written by the stock services alone."""

    list_display = ("created_at", "product", "delta", "reason", "reference")
    list_filter = ("reason",)
    list_select_related = ("product",)
    search_fields = ("product__sku", "reference")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: StockMovement | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: StockMovement | None = None) -> bool:
        return False
