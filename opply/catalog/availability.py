"""How many units of each product a customer can still buy.

For now this is ``on_hand`` from the stock table, read in one indexed query per
page. The availability store in Redis (on-hand minus live reservations)
replaces it behind the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable

from opply.catalog.models import Stock


def available_quantities(product_ids: Iterable[int]) -> dict[int, int]:
    ids = list(product_ids)
    if not ids:
        return {}
    return dict(Stock.objects.filter(product_id__in=ids).values_list("product_id", "on_hand"))
