"""Reads of the orders module: a customer's own orders, from the primary.

An order must be in its customer's history and readable the moment it is
placed, whatever the replica's lag and however long after the write the
customer looks. These reads are per customer and indexed
(``order_customer_history``), so they cost the primary little; the catalog,
which is most of the read traffic, stays on the replica.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from opply.common.db.routing import PRIMARY
from opply.identity import selectors as identity_selectors
from opply.orders.models import Order, OrderLine
from opply.orders.serializers import OrderSerializer

# One bound serializer per process: building one per response (DRF deep-copies
# its fields) cost ten times the rendering itself on the order path.
_ORDER = OrderSerializer()


def order_representation(order: Order, lines: Iterable[OrderLine]) -> dict[str, Any]:
    """An order as the API shows it (also what an idempotent replay returns),
    rendered by its output serializer."""
    return _ORDER.to_representation({"order": order, "lines": lines})


def order_lines(order: Order) -> list[OrderLine]:
    prefetched = getattr(order, "prefetched_lines", None)
    return prefetched if prefetched is not None else list(order.lines.all())


def order_history(customer_id: UUID) -> QuerySet[Order]:
    """The customer's orders, newest first, lines prefetched (two queries a page)."""
    return (
        Order.objects.using(PRIMARY)
        .filter(customer_id=customer_id)
        .order_by("-created_at", "-id")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id"), to_attr="prefetched_lines"))
    )


def order_get(*, customer_id: UUID, order_id: UUID) -> Order | None:
    """One of the customer's orders; someone else's is None, exactly like a missing one."""
    return order_history(customer_id).filter(public_id=order_id).first()


def every_order() -> QuerySet[Order]:
    """Staff's view: every customer's orders, newest first, lines prefetched (primary: staff act on what they see)."""
    return (
        Order.objects.using(PRIMARY)
        .order_by("-created_at", "-id")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id"), to_attr="prefetched_lines"))
    )


def staff_order_get(order_id: UUID) -> Order | None:
    return every_order().filter(public_id=order_id).first()


def staff_order_representations(orders: Iterable[Order]) -> list[dict[str, Any]]:
    """Orders as staff see them: each names its customer (id and username; null if the account is gone)."""
    orders = list(orders)
    names = identity_selectors.usernames([order.customer_id for order in orders])
    return [
        {
            **order_representation(order, order_lines(order)),
            "customer": {"id": str(order.customer_id), "username": names.get(order.customer_id)},
        }
        for order in orders
    ]
