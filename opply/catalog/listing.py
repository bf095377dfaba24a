"""Which products the customer list shows: ``Product.in_stock``.

The flag mirrors "a customer can buy at least one unit" so that the list can
filter and index on it. It is refreshed only when availability may have
crossed zero, which is rare, and a flip throws away the cached lists the
product can appear in (its tags: opply/catalog/cache.py), so that a cached
page never shows what cannot be bought (or hides what came back), while the
cached pages of unrelated searches and categories stay.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib.postgres.fields import ArrayField
from django.db import transaction
from django.db.models import TextField
from django.db.models.expressions import RawSQL

from opply.catalog import availability, cache, search
from opply.catalog.models import Product


def crossed_zero(before: int, after: int) -> bool:
    return (before > 0) != (after > 0)


def refresh_in_stock(product_ids: list[int]) -> int:
    """Re-derive ``in_stock`` for these products; return how many flipped.

    The product rows are locked (in id order) before availability is read, so
    of two concurrent refreshes the later one reads the later availability and
    its answer stands.
    """
    if not product_ids:
        return 0
    with transaction.atomic():
        # FOR NO KEY UPDATE: serialises refreshes of a product without
        # blocking the ledger inserts of orders (which take KEY SHARE locks).
        flags = dict(Product.objects.select_for_update(no_key=True).filter(id__in=product_ids).order_by("id").values_list("id", "in_stock"))
        available = availability.available_quantities(flags)
        to_true = [pid for pid, flag in flags.items() if not flag and available.get(pid, 0) > 0]
        to_false = [pid for pid, flag in flags.items() if flag and available.get(pid, 0) <= 0]
        if to_true:
            Product.objects.filter(id__in=to_true).update(in_stock=True)
        if to_false:
            Product.objects.filter(id__in=to_false).update(in_stock=False)
        flipped = len(to_true) + len(to_false)
        if flipped:
            # After the commit (also of an outer transaction): a list rebuilt
            # between the bump and the commit would cache the old flag.
            tags = flip_tags(to_true + to_false)
            transaction.on_commit(lambda: cache.bump_tags(tags))
    return flipped


def flip_tags(product_ids: list[int]) -> list[str]:
    """The cache tags of every list these products can appear in: "all", their
    categories (by slug and id) and their search tags (the words of their
    names and SKUs as PostgreSQL's full-text parser splits them)."""
    tags = {"all"}
    rows = (
        Product.objects.using("default")
        .filter(id__in=product_ids)
        .annotate(lexemes=RawSQL(f"tsvector_to_array({search.VECTOR_SQL})", [], output_field=ArrayField(TextField())))  # noqa: S611 - constant SQL
        .values_list("name", "sku", "category__slug", "category__public_id", "lexemes")
    )
    for name, sku, slug, category_id, lexemes in rows:
        tags.update({f"c:{slug}", f"c:{category_id}"}, search.product_tags(name, sku, lexemes))
    return sorted(tags)


def repair_in_stock(product_ids: list[int]) -> int:
    """Re-derive the flag of those of these products whose flag disagrees
    with their availability now; return how many flipped.

    For the periodic resync and reconciliation: a flag can go stale when the
    change that should have flipped it could not (Redis down while a product
    sold out, a refresh that timed out). A cheap unlocked comparison first,
    so that only the few products that need it are locked.
    """
    if not product_ids:
        return 0
    flags = dict(Product.objects.using("default").filter(id__in=product_ids).values_list("id", "in_stock"))
    available = availability.available_quantities(flags)
    wrong = [pid for pid, flag in flags.items() if flag != (available.get(pid, 0) > 0)]
    return refresh_in_stock(wrong)


def refresh_after_change(before: Mapping[int, int], after: Mapping[int, int]) -> None:
    """Refresh the flag of every product whose availability crossed zero."""
    refresh_in_stock(sorted(pid for pid, value in after.items() if crossed_zero(before.get(pid, 0), value)))
