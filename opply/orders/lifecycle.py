"""An order's life cycle: which status may follow which, and entering one.

::

    pending ──► confirmed ──► shipped
       │            │
       ▼            ▼
    rejected    cancelled

Anything else is refused with a 409 naming the order's status. Every
transition is one service function (``order_ship`` here, ``order_cancel`` in
:mod:`opply.orders.services` because it returns stock, the fulfilment
worker's confirm / reject in :mod:`opply.orders.fulfilment`) that locks the
order's row (``SELECT … FOR UPDATE``) before it reads the status, so two
concurrent transitions of one order are serialised and the second one sees
the first one's outcome: a ship racing a cancel ends with exactly one of
them, the other a 409.

Each status has the time the order entered it, and ``status_changed_at`` the
latest (see :class:`opply.orders.models.Order`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from opply.common.db.routing import PRIMARY
from opply.common.errors import ConflictError, NotFoundError
from opply.common.observability import metrics
from opply.orders.models import Order

Status = Order.Status

ALLOWED: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.CONFIRMED, Status.REJECTED}),
    Status.CONFIRMED: frozenset({Status.SHIPPED, Status.CANCELLED}),
    Status.REJECTED: frozenset(),
    Status.SHIPPED: frozenset(),
    Status.CANCELLED: frozenset(),
}

# The column that records when an order entered each status.
ENTERED_AT: dict[str, str] = {
    Status.CONFIRMED: "confirmed_at",
    Status.REJECTED: "rejected_at",
    Status.SHIPPED: "shipped_at",
    Status.CANCELLED: "cancelled_at",
}


class OrderNotFound(NotFoundError):
    """Also someone else's order: a customer cannot tell theirs from none."""

    default_message = "No order with this id."


class OrderTransitionRefused(ConflictError):
    """The order's status does not allow this transition (409, ``order_status`` says which it is)."""

    default_code = "order_status_conflict"


class OrderNotCancellable(OrderTransitionRefused):
    default_code = "order_not_cancellable"


class OrderNotShippable(OrderTransitionRefused):
    default_code = "order_not_shippable"


_REFUSALS: dict[str, type[OrderTransitionRefused]] = {
    Status.CANCELLED: OrderNotCancellable,
    Status.SHIPPED: OrderNotShippable,
}


def lock_order(order_id: UUID, *, customer_id: UUID | None = None) -> Order:
    """The order's row, locked until the caller's transaction ends.

    ``customer_id`` scopes it to one customer (someone else's order is a 404,
    exactly like a missing one); None is staff's or the worker's view.
    """
    if not transaction.get_connection(PRIMARY).in_atomic_block:
        raise RuntimeError("lock_order must run inside a transaction")
    queryset = Order.objects.using(PRIMARY).select_for_update().filter(public_id=order_id)
    if customer_id is not None:
        queryset = queryset.filter(customer_id=customer_id)
    order = queryset.first()
    if order is None:
        raise OrderNotFound
    return order


def check_transition(order: Order, status: str) -> None:
    """Refuse (409) a transition the order's current status does not allow."""
    if status not in ALLOWED[order.status]:
        refusal = _REFUSALS.get(status, OrderTransitionRefused)
        verb = {Status.CANCELLED: "cancelled", Status.SHIPPED: "shipped"}.get(status, f"moved to {status}")
        raise refusal(f"An order that is {order.status} cannot be {verb}.", order_status=order.status)


def enter(order: Order, status: str, *, reason: str = "", at: datetime | None = None) -> None:
    """Move a locked order to ``status`` (checked), stamped with the time; saved in the caller's transaction.

    The metric is counted once the transaction commits (an order that rolled
    back entered nothing).
    """
    check_transition(order, status)
    at = at or timezone.now()
    order.status = status
    order.status_changed_at = at
    order.status_reason = reason
    setattr(order, ENTERED_AT[status], at)
    order.save(using=PRIMARY, update_fields=["status", "status_changed_at", "status_reason", ENTERED_AT[status], "updated_at"])
    transaction.on_commit(lambda: metrics.order_transition(status), using=PRIMARY)


def order_ship(*, order_id: UUID) -> Order:
    """Staff ship a confirmed order (its stock already left at confirmation)."""
    with transaction.atomic(using=PRIMARY, durable=True):
        order = lock_order(order_id)
        enter(order, Status.SHIPPED)
        _record_event(order)
    return order


def _record_event(order: Order) -> None:
    """The order's new status, for other services (opply.orders.events): in the same transaction."""
    from opply.orders import events

    events.record_transition(order)
