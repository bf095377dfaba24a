"""The cart: stock reserved the moment an item is added.

A customer's cart *is* their hold in the availability store
(``hold:cart:<customer uuid>``): each line reserves its units, atomically and
all or nothing. Every change of a quantity renews the cart's time to live
(``CART_TTL_SECONDS``), but never past ``CART_MAX_LIFETIME_SECONDS`` after its
first reservation: a few accounts re-setting their carts cannot keep stock
from everyone else for ever. When it passes, the sweeper gives the units back
(and the cart reads as empty at once, even before the sweeper has run); the
customer checks out before, or adds the items again, competing like anyone. Checkout moves the hold to the order being
placed and goes through :func:`opply.orders.services.order_place`, the same
commit path as a direct order.

Redis is where carts live: if it is down, cart calls answer 503 with
``Retry-After`` rather than pretend. If it restarts empty, carts are gone and
their stock is available again (availability is rebuilt from PostgreSQL).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from redis.exceptions import RedisError

from opply.catalog import inventory
from opply.catalog import selectors as catalog_selectors
from opply.catalog.services import publish_availability_changes
from opply.common.errors import ProblemError, ServiceUnavailable
from opply.common.observability import metrics
from opply.orders import services
from opply.orders.idempotency import Claim
from opply.orders.models import Order

logger = logging.getLogger(__name__)


class CartLimitExceeded(ProblemError):
    status_code = 422


class CartEmpty(ProblemError):
    status_code = 409
    default_code = "cart_empty"
    default_detail = "The cart is empty (or expired): there is nothing to check out."


class NotInCart(ProblemError):
    status_code = 404
    default_code = "not_in_cart"
    default_detail = "This product is not in the cart."


class CartLineUnavailable(ProblemError):
    """A cart line names a product the database does not have (data restored
    from an older backup, a product removed by hand): checkout never skips it."""

    status_code = 409
    default_code = "cart_line_unavailable"
    default_detail = (
        "The cart holds a product that no longer exists; nothing was ordered. "
        "Empty the cart (DELETE /api/orders/cart/) and add the items again."
    )


@dataclass(frozen=True)
class CartLine:
    product: catalog_selectors.ProductForOrder
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity


@dataclass(frozen=True)
class Cart:
    lines: list[CartLine]
    expires_at: datetime | None

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))


def cart_holder(customer_id: UUID) -> str:
    return f"cart:{customer_id}"


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("Carts are temporarily unavailable; please retry shortly. Direct orders still work.", retry_after=5)


def cart_get(customer_id: UUID, *, known: dict[int, catalog_selectors.ProductForOrder] | None = None) -> Cart:
    """The customer's live cart; an expired one reads as empty.

    ``known`` products (read before a change) are not read again, so that a
    change answers without touching PostgreSQL after it reserved.
    """
    holder = cart_holder(customer_id)
    try:
        expiry = inventory.hold_expiry(holder)
        if expiry is None or expiry <= time.time():
            return Cart([], None)
        held = inventory.held_by(holder)
    except RedisError:
        raise _unavailable() from None
    products = dict(known or {})
    unknown = set(held) - set(products)
    if unknown:
        products.update(catalog_selectors.product_summaries(unknown))
    missing = sorted(set(held) - set(products))
    if missing:
        logger.error("cart %s holds products %s that the database does not have", holder, missing)
    lines = [CartLine(products[pid], qty) for pid, qty in sorted(held.items()) if pid in products]
    return Cart(lines, datetime.fromtimestamp(expiry, tz=UTC))


def _product_for_sale(product_id: UUID) -> catalog_selectors.ProductForOrder:
    product = catalog_selectors.products_for_order([product_id]).get(product_id)
    if product is None or not product.is_active:
        raise ProblemError(
            "No product with this id is for sale.", "validation_error", errors={"product_id": ["No product with this id is for sale."]}
        )
    return product


def _change(customer_id: UUID, product: catalog_selectors.ProductForOrder, quantity: int, *, absolute: bool) -> Cart:
    """Reserve (or release) last: everything the answer needs from PostgreSQL
    is read first, so that a database failure cannot strike after the
    reservation; should anything still fail after it, the change is undone.
    A client that retries a failed add therefore never holds twice."""
    holder = cart_holder(customer_id)
    others = set(_live_lines(customer_id)) - {product.id}
    known = {**(catalog_selectors.product_summaries(others) if others else {}), product.id: product}
    try:
        result = inventory.adjust_hold(
            holder,
            {product.id: quantity},
            absolute=absolute,
            ttl_seconds=settings.CART_TTL_SECONDS,
            max_lifetime_seconds=settings.CART_MAX_LIFETIME_SECONDS,
            max_units_per_product=settings.CART_MAX_UNITS_PER_PRODUCT,
            max_lines=settings.CART_MAX_LINES,
        )
    except RedisError:
        raise _unavailable() from None
    try:
        publish_availability_changes(result.expired + result.changes)
        _refuse_unless_done(result, product, quantity)
        return cart_get(customer_id, known=known)
    except BaseException:
        if result.ok:
            _undo(holder, result.changes)
        raise


def _undo(holder: str, changes: list[inventory.Change]) -> None:
    """Take back a change that succeeded in Redis but whose request failed."""
    # A change's availability fell by what it reserved (or rose by what it released).
    reverse = {change.product_id: change.after - change.before for change in changes if change.after != change.before}
    if not reverse:
        return
    try:
        undone = inventory.adjust_hold(holder, reverse, ttl_seconds=settings.CART_TTL_SECONDS)
    except RedisError:
        logger.error("could not undo %s on %s: the hold stays until the cart expires", reverse, holder)
        return
    if not undone.ok:
        logger.error("could not undo %s on %s (short: %s)", reverse, holder, undone.short)
    publish_availability_changes(undone.changes)


def _refuse_unless_done(result: inventory.ReservationResult, product: catalog_selectors.ProductForOrder, quantity: int) -> None:
    """Raise the client's error if the store refused the change (then nothing was reserved)."""
    if result.cap is not None:
        if result.cap[0] == "units":
            _, _, cap, held = result.cap
            raise CartLimitExceeded(
                f"A cart may hold at most {cap} units of one product (this cart holds {held}).",
                "cart_quantity_limit",
                limit=cap,
                in_cart=held,
            )
        raise CartLimitExceeded(f"A cart may hold at most {result.cap[1]} different products.", "cart_line_limit", limit=result.cap[1])
    if not result.ok:
        metrics.reservation_refused(source="cart", decided_by="store")
        available = result.short[product.id]
        raise services.InsufficientStock(
            f"Only {available} more can be reserved; the cart is unchanged.",
            available=available,
            lines=[{"product_id": str(product.public_id), "requested": quantity, "available": available}],
        )


def cart_add(*, customer_id: UUID, product_id: UUID, quantity: int) -> Cart:
    """Add units of a product, reserving them now or failing now (cart unchanged)."""
    return _change(customer_id, _product_for_sale(product_id), quantity, absolute=False)


def cart_set(*, customer_id: UUID, product_id: UUID, quantity: int) -> Cart:
    """Set a line's quantity: reserve or release the difference; 0 removes the line."""
    if quantity == 0:
        return cart_remove(customer_id=customer_id, product_id=product_id)
    product = _product_for_sale(product_id)
    if product.id not in _live_lines(customer_id):
        raise NotInCart()
    return _change(customer_id, product, quantity, absolute=True)


def cart_remove(*, customer_id: UUID, product_id: UUID) -> Cart:
    """Remove a line and give its units back."""
    product = catalog_selectors.products_for_order([product_id]).get(product_id)
    if product is None or product.id not in _live_lines(customer_id):
        raise NotInCart()
    return _change(customer_id, product, 0, absolute=True)


def cart_clear(*, customer_id: UUID) -> None:
    """Empty the cart and give every reservation back."""
    try:
        publish_availability_changes(inventory.release_hold(cart_holder(customer_id)))
    except RedisError:
        raise _unavailable() from None


def _live_lines(customer_id: UUID) -> dict[int, int]:
    try:
        expiry = inventory.hold_expiry(cart_holder(customer_id))
        return inventory.held_by(cart_holder(customer_id)) if expiry and expiry > time.time() else {}
    except RedisError:
        raise _unavailable() from None


def cart_checkout(*, customer_id: UUID, idempotency: Claim | None = None) -> Order:
    """Turn the cart into an order through the one commit path for stock.

    The cart's hold moves to the order being placed (so neither the sweeper
    nor the customer can change it meanwhile); on success the cart is empty,
    on failure its lines go back into the cart with a fresh time to live. A
    process that dies in between cannot give them back: with an
    Idempotency-Key, the retry finds them under the key's holder; without
    one, the sweeper returns them to stock after ``ORDER_HOLD_SECONDS``.
    """
    cart = cart_holder(customer_id)
    order_holder = idempotency.holder if idempotency is not None else f"order:{uuid.uuid4()}"
    try:
        transfer = inventory.transfer_hold(cart, order_holder, ttl_seconds=services.ORDER_HOLD_SECONDS)
        held = transfer.lines
        if idempotency is not None:
            # The holder is named after the key: if an earlier attempt with
            # this key took the cart over and died before it could order or
            # give it back, its lines are there too, and are ordered now.
            held = inventory.held_by(order_holder)
    except RedisError:
        raise _unavailable() from None
    publish_availability_changes(transfer.released)
    if not held:
        raise CartEmpty()
    # From here on the order holds the cart: whatever fails, the cart gets it back.
    try:
        products = catalog_selectors.product_summaries(held)
        missing = sorted(set(held) - set(products))
        if missing:
            logger.error("checkout of %s: products %s are not in the database", cart, missing)
            raise CartLineUnavailable()
        lines = [services.LineRequest(products[pid].public_id, qty) for pid, qty in sorted(held.items())]
        return services.order_place(customer_id=customer_id, lines=lines, idempotency=idempotency, holder=order_holder)
    except BaseException:
        try:
            inventory.transfer_hold(
                order_holder, cart, ttl_seconds=settings.CART_TTL_SECONDS, max_lifetime_seconds=settings.CART_MAX_LIFETIME_SECONDS
            )
        except RedisError:
            # The order's hold expires and is swept: the units come back, the cart does not.
            logger.warning("could not give %s back to the cart; its hold will be swept", order_holder)
        raise
