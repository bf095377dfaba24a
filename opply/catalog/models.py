"""Catalog tables, in the ``catalog`` schema.

Stock lives in its own table so that the many writes it takes (every order)
never touch, lock or bloat the product row that the list reads. Every change
of ``on_hand`` is also appended to the stock ledger; the ledger's sum per
product equals ``on_hand`` at all times (``manage.py stock_audit``).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper

from opply.common.db.constraints import check_constraint

# Limits of the catalog, enforced by the serializers (a 400 naming the field)
# and by CHECK constraints here (the last word). Chosen so that no arithmetic
# on them can overflow a column: on-hand units stay far inside PostgreSQL's
# 32-bit integer (2,147,483,647), and the largest order line (MAX_PRICE x the
# orders module's MAX_UNITS_PER_LINE) fits numeric(14,2) with room to spare.
MAX_ON_HAND = 1_000_000_000
MAX_PRICE = Decimal("1000000.00")
# 0 to MAX_PRICE with at most two decimals, as the API (and its OpenAPI
# pattern) accepts a price: the schema and the server agree on every string.
PRICE_PATTERN = r"(1000000(\.0{1,2})?|[0-9]{1,6}(\.[0-9]{1,2})?)"


# What the customer list shows (the partial indexes' condition).
LISTED = models.Q(is_active=True, in_stock=True)


class Category(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        db_table = 'catalog"."category'
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    is_active = models.BooleanField(default=True)
    # Whether a customer can buy at least one unit now. Maintained by the
    # stock and availability services when availability crosses zero (rare),
    # never per order, so the list can filter and index on it.
    in_stock = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = 'catalog"."product'
        constraints = [
            check_constraint(models.Q(price__gte=0), name="product_price_not_negative"),
            check_constraint(models.Q(price__lte=MAX_PRICE), name="product_price_at_most_max"),
        ]
        # Every list the API offers is served by an index at a million products
        # (opply/catalog/tests/test_query_plans.py checks the plans): the
        # keyset pages walk a (sort key, public_id) index from their position
        # (public_id breaks ties: many products share a price), and search
        # uses the full-text GIN indexes of migrations 0005 and 0007 (not
        # declared here: they index opply.catalog.search's expressions of the
        # stored vector, which is not a model field).
        indexes = [
            # The customer list: listed products only, one index per ordering...
            models.Index(fields=["name", "public_id"], name="product_list_name", condition=LISTED),
            models.Index(fields=["price", "public_id"], name="product_list_price", condition=LISTED),
            models.Index(fields=["created_at", "public_id"], name="product_list_created", condition=LISTED),
            # ...and per ordering within a category (a small category would
            # otherwise walk the whole list to fill a page).
            models.Index(fields=["category", "name", "public_id"], name="product_list_cat_name", condition=LISTED),
            models.Index(fields=["category", "price", "public_id"], name="product_list_cat_price", condition=LISTED),
            models.Index(fields=["category", "created_at", "public_id"], name="product_list_cat_created", condition=LISTED),
            # Staff and ?in_stock=false see every product.
            models.Index(fields=["name", "public_id"], name="product_all_name"),
            models.Index(fields=["price", "public_id"], name="product_all_price"),
            models.Index(fields=["created_at", "public_id"], name="product_all_created"),
            # (No category index of every product: a customer's category walk
            # could then be served by it, reading every sold-out product of
            # the category; staff lists walk the whole list's index instead.)
            # A search that is exactly a SKU, any case.
            models.Index(Upper("sku"), name="product_sku_upper"),
            # The admin's substring search (`icontains` compiles to
            # UPPER(col) LIKE UPPER('%term%')), served by trigram indexes.
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="product_name_trgm"),
            GinIndex(OpClass(Upper("sku"), name="gin_trgm_ops"), name="product_sku_trgm"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Stock(models.Model):
    """Units physically on hand and not yet committed to an order."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True, related_name="stock")
    on_hand = models.IntegerField()
    # Bumped by every change of on_hand. Changes of one row are serialised by
    # its lock, so versions follow commit order: the availability store in
    # Redis applies an on-hand value only if its version is newer than the one
    # it has, whatever order the updates reach it in.
    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = 'catalog"."stock'
        constraints = [
            check_constraint(models.Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            check_constraint(models.Q(on_hand__lte=MAX_ON_HAND), name="stock_on_hand_at_most_max"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.on_hand} on hand"


class StockMovement(models.Model):
    """One append-only ledger row per change of ``on_hand``."""

    class Reason(models.TextChoices):
        INITIAL = "initial"
        RESTOCK = "restock"
        WRITE_OFF = "write_off"
        COUNT = "count"
        ORDER = "order"
        CANCEL = "cancel"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    delta = models.IntegerField()
    reason = models.CharField(max_length=16, choices=Reason.choices)
    # What caused it: an order's public id, a staff user's public id...
    reference = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = 'catalog"."stock_movement'
        indexes = [models.Index(fields=["product", "created_at"], name="stock_movement_product")]
        constraints = [
            check_constraint(models.Q(delta__gte=-MAX_ON_HAND, delta__lte=MAX_ON_HAND), name="stock_movement_delta_bounded"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.delta:+d} ({self.reason})"
