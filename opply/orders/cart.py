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
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings

from opply.catalog import reservations
from opply.catalog import selectors as catalog_selectors
from opply.catalog.reservations import StoreUnavailable, cart_holder
from opply.common.errors import ApplicationError, ConflictError, NotFoundError, UnavailableError, UnprocessableError
from opply.common.observability import metrics
from opply.orders import services
from opply.orders.idempotency import Claim

logger = logging.getLogger(__name__)

__all__ = ["Cart", "CartLine", "cart_add", "cart_checkout", "cart_clear", "cart_get", "cart_holder", "cart_remove", "cart_set"]


class CartLimitExceeded(UnprocessableError):
    pass


class CartEmpty(ConflictError):
    default_code = "cart_empty"
    default_message = "The cart is empty (or expired): there is nothing to check out."


class NotInCart(NotFoundError):
    default_code = "not_in_cart"
    default_message = "This product is not in the cart."


class CartLineUnavailable(ConflictError):
    """A cart line names a product the database does not have (data restored
    from an older backup, a product removed by hand): checkout never skips it."""

    default_code = "cart_line_unavailable"
    default_message = (
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


def _unavailable() -> UnavailableError:
    return UnavailableError("Carts are temporarily unavailable; please retry shortly. Direct orders still work.", retry_after=5)


def _held(customer_id: UUID) -> reservations.Held:
    """The customer's live hold (an expired one is empty); 503 if Redis is down."""
    try:
        return reservations.held_by(cart_holder(customer_id))
    except StoreUnavailable:
        raise _unavailable() from None


def cart_get(customer_id: UUID, *, known: dict[UUID, catalog_selectors.ProductForOrder] | None = None) -> Cart:
    """The customer's live cart; an expired one reads as empty.

    ``known`` products (read before a change) are not read again, so that a
    change answers without touching PostgreSQL after it reserved.
    """
    held = _held(customer_id)
    if held.expires_at is None:
        return Cart([], None)
    products = dict(known or {})
    unknown = set(held.lines) - set(products)
    if unknown:
        products.update(catalog_selectors.products_for_order(unknown))
    missing = sorted(map(str, set(held.lines) - set(products))) + [f"id {pid}" for pid in held.vanished]
    if missing:
        logger.error("cart %s holds products %s that the database does not have", cart_holder(customer_id), missing)
    lines = [CartLine(products[product_id], qty) for product_id, qty in held.lines.items() if product_id in products]
    return Cart(lines, datetime.fromtimestamp(held.expires_at, tz=UTC))


def _product_for_sale(product_id: UUID) -> catalog_selectors.ProductForOrder:
    product = catalog_selectors.products_for_order([product_id]).get(product_id)
    if product is None or not product.is_active:
        raise ApplicationError(
            "No product with this id is for sale.", "validation_error", errors={"product_id": ["No product with this id is for sale."]}
        )
    return product


def _change(customer_id: UUID, product: catalog_selectors.ProductForOrder, quantity: int, *, absolute: bool) -> Cart:
    """Reserve (or release) last: everything the answer needs from PostgreSQL
    is read first, so that a database failure cannot strike after the
    reservation; should anything still fail after it, the change is undone.
    A client that retries a failed add therefore never holds twice."""
    others = set(_held(customer_id).lines) - {product.public_id}
    known = {**(catalog_selectors.products_for_order(others) if others else {}), product.public_id: product}
    try:
        result = reservations.reserve(
            cart_holder(customer_id),
            {product.public_id: quantity},
            absolute=absolute,
            ttl_seconds=settings.CART_TTL_SECONDS,
            max_lifetime_seconds=settings.CART_MAX_LIFETIME_SECONDS,
            max_units_per_product=settings.CART_MAX_UNITS_PER_PRODUCT,
            max_lines=settings.CART_MAX_LINES,
        )
    except StoreUnavailable:
        raise _unavailable() from None
    try:
        _refuse_unless_done(result, product, quantity)
        return cart_get(customer_id, known=known)
    except BaseException:
        result.undo()
        raise


def _refuse_unless_done(result: reservations.Reservation, product: catalog_selectors.ProductForOrder, quantity: int) -> None:
    """Raise the client's error if the store refused the change (then nothing was reserved)."""
    if isinstance(result.cap, reservations.UnitsCap):
        raise CartLimitExceeded(
            f"A cart may hold at most {result.cap.cap} units of one product (this cart holds {result.cap.held}).",
            "cart_quantity_limit",
            limit=result.cap.cap,
            in_cart=result.cap.held,
        )
    if isinstance(result.cap, reservations.LinesCap):
        raise CartLimitExceeded(f"A cart may hold at most {result.cap.cap} different products.", "cart_line_limit", limit=result.cap.cap)
    if not result.ok:
        metrics.reservation_refused(source="cart", decided_by="store")
        available = result.short[product.public_id]
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
    if product.public_id not in _held(customer_id).lines:
        raise NotInCart()
    return _change(customer_id, product, quantity, absolute=True)


def cart_remove(*, customer_id: UUID, product_id: UUID) -> Cart:
    """Remove a line and give its units back."""
    product = catalog_selectors.products_for_order([product_id]).get(product_id)
    if product is None or product.public_id not in _held(customer_id).lines:
        raise NotInCart()
    return _change(customer_id, product, 0, absolute=True)


def cart_clear(*, customer_id: UUID) -> None:
    """Empty the cart and give every reservation back."""
    try:
        reservations.release(cart_holder(customer_id))
    except StoreUnavailable:
        raise _unavailable() from None


def cart_checkout(*, customer_id: UUID, idempotency: Claim | None = None) -> services.OrderResult:
    """Turn the cart into an order through the one commit path for stock.

    The cart's hold moves to the order being placed (so neither the sweeper
    nor the customer can change it meanwhile); on success the cart is empty,
    on failure its lines go back into the cart with a fresh time to live. A
    process that dies in between cannot give them back: with an
    Idempotency-Key, the retry finds them under the key's holder; without
    one, the sweeper returns them to stock after ``ORDER_HOLD_SECONDS``.
    """
    cart = cart_holder(customer_id)
    order_holder = idempotency.holder if idempotency is not None else reservations.order_holder(uuid.uuid4())
    try:
        held = reservations.transfer(cart, order_holder, ttl_seconds=services.ORDER_HOLD_SECONDS)
        if idempotency is not None:
            # The holder is named after the key: if an earlier attempt with
            # this key took the cart over and died before it could order or
            # give it back, its lines are there too, and are ordered now.
            held = reservations.held_by(order_holder, expired_too=True)
    except StoreUnavailable:
        raise _unavailable() from None
    if not held:
        raise CartEmpty()
    # From here on the order holds the cart: whatever fails, the cart gets it back.
    try:
        products = catalog_selectors.products_for_order(held.lines)
        missing = sorted(map(str, set(held.lines) - set(products))) + [f"id {pid}" for pid in held.vanished]
        if missing:
            logger.error("checkout of %s: products %s are not in the database", cart, missing)
            raise CartLineUnavailable()
        lines = [services.LineRequest(product_id, qty) for product_id, qty in held.lines.items()]
        return services.order_place(customer_id=customer_id, lines=lines, idempotency=idempotency, holder=order_holder)
    except BaseException:
        try:
            reservations.transfer(
                order_holder, cart, ttl_seconds=settings.CART_TTL_SECONDS, max_lifetime_seconds=settings.CART_MAX_LIFETIME_SECONDS
            )
        except StoreUnavailable:
            # The order's hold expires and is swept: the units come back, the cart does not.
            logger.warning("could not give %s back to the cart; its hold will be swept", order_holder)
        raise
