"""The door to stock, through its own API: holds, sales one by one and in batches."""

from __future__ import annotations

import pytest
from django.db import transaction

from opply.catalog import inventory, reservations
from opply.catalog.models import Stock, StockMovement
from opply.catalog.selectors import stock_ledger_mismatches
from opply.catalog.services import stock_adjust
from opply.catalog.stock import OnHand
from opply.catalog.tests.factories import make_product
from opply.common.redis import get_redis

pytestmark = pytest.mark.django_db(transaction=True)


def on_hand(product) -> int:  # type: ignore[no-untyped-def]
    return Stock.objects.get(product=product).on_hand


def available(product) -> int:  # type: ignore[no-untyped-def]
    return reservations.available([product.public_id])[product.public_id]


def live_holds() -> list[str]:
    return sorted(get_redis().scan_iter(match="hold:*"))


def test_a_hold_sold_in_a_transaction_reaches_the_store_after_the_commit():
    product = make_product(quantity=5)

    with reservations.Hold("order:a", {product.public_id: 2}, ttl_seconds=60) as hold, transaction.atomic():
        assert available(product) == 3  # reserved on entering
        hold.sell(reason="order", reference="a")

    assert on_hand(product) == 3
    on_hand_in_store, _, reserved = inventory.stored_state([product.id])[product.id]
    assert (on_hand_in_store, reserved) == (3, 0)
    assert live_holds() == []
    assert stock_ledger_mismatches() == []


def test_a_hold_is_given_back_whatever_fails_before_the_commit():
    product = make_product(quantity=5)

    with (
        pytest.raises(RuntimeError),
        reservations.Hold("order:b", {product.public_id: 4}, ttl_seconds=60) as hold,
        transaction.atomic(),
    ):
        hold.sell(reason="order", reference="b")
        raise RuntimeError("the connection dropped")

    assert on_hand(product) == 5
    assert available(product) == 5
    assert live_holds() == []


def test_the_store_refusing_raises_out_of_stock_and_holds_nothing():
    product, other = make_product(quantity=2), make_product(quantity=9)

    with (
        pytest.raises(reservations.OutOfStock) as refused,
        reservations.Hold("order:c", {other.public_id: 1, product.public_id: 3}, ttl_seconds=60),
    ):
        pytest.fail("entered a hold the store refused")

    assert refused.value.decided_by == "store"
    assert refused.value.shortages == [reservations.Shortage(product.public_id, 3, 2)]
    assert (available(product), available(other)) == (2, 9)
    assert live_holds() == []


def test_postgresql_refusing_rolls_back_releases_and_resyncs_the_store():
    product = make_product(quantity=2)
    inventory.force_on_hand({product.id: OnHand(10, 99)})  # the store believes in stock that is not there

    with (
        pytest.raises(reservations.OutOfStock) as refused,
        reservations.Hold("order:d", {product.public_id: 5}, ttl_seconds=60) as hold,
        transaction.atomic(),
    ):
        hold.sell(reason="order", reference="d")

    assert refused.value.decided_by == "database"
    assert on_hand(product) == 2
    assert live_holds() == []
    assert StockMovement.objects.filter(reference="d").count() == 0


def test_an_adopted_hold_is_left_to_its_owner_on_failure():
    product = make_product(quantity=5)
    reservations.reserve("order:e", {product.public_id: 2}, ttl_seconds=60)

    with (
        pytest.raises(RuntimeError),
        reservations.Hold("order:e", {product.public_id: 2}, ttl_seconds=60, adopt=True),
        transaction.atomic(),
    ):
        raise RuntimeError("boom")

    assert reservations.held_by("order:e").lines == {product.public_id: 2}
    assert available(product) == 3


def test_sell_holds_sells_whole_sales_in_order_and_refuses_what_postgresql_cannot_cover():
    a, b = make_product(quantity=5), make_product(quantity=3)
    for holder, lines in [("order:1", {a.public_id: 2, b.public_id: 1}), ("order:2", {a.public_id: 2}), ("order:3", {a.public_id: 1})]:
        assert reservations.reserve(holder, lines, ttl_seconds=60).ok
    stock_adjust(product=a, delta=-2)  # a write-off the holds did not see: 3 left for 5 held

    sales = [
        reservations.Sale("order:1", {a.public_id: 2, b.public_id: 1}, "o1"),
        reservations.Sale("order:2", {a.public_id: 2}, "o2"),
        reservations.Sale("order:3", {a.public_id: 1}, "o3"),
    ]
    with transaction.atomic():
        outcome = reservations.sell_holds(sales)

    assert [sale.holder for sale in outcome.sold] == ["order:1", "order:3"]
    assert [(sale.holder, shortages) for sale, shortages in outcome.refused] == [("order:2", [reservations.Shortage(a.public_id, 2, 1)])]
    assert (on_hand(a), on_hand(b)) == (0, 2)
    ledger = sorted(StockMovement.objects.filter(reason="order").values_list("reference", "product_id", "delta"))
    assert ledger == [("o1", a.id, -2), ("o1", b.id, -1), ("o3", a.id, -1)]
    assert stock_ledger_mismatches() == []
    # After the commit: sold holds are committed, the refused one is released.
    assert live_holds() == []
    assert {pid: (state[0], state[2]) for pid, state in inventory.stored_state([a.id, b.id]).items()} == {a.id: (0, 0), b.id: (2, 0)}


def test_sell_holds_needs_the_callers_transaction():
    with pytest.raises(RuntimeError):
        reservations.sell_holds([])


def test_held_by_and_transfer_speak_public_ids():
    product = make_product(quantity=5)
    reservations.reserve("cart:x", {product.public_id: 3}, ttl_seconds=60)

    moved = reservations.transfer("cart:x", "order:x", ttl_seconds=60)

    assert moved.lines == {product.public_id: 3}
    assert not reservations.held_by("cart:x")
    assert reservations.held_by("order:x").lines == {product.public_id: 3}
    assert reservations.release("order:x") == reservations.Release(True, 3)
    assert available(product) == 5


# --- The Lua scripts, through the module's API ------------------------------------------


def stored(product) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    return inventory.stored_state([product.id])[product.id]


def test_an_older_on_hand_version_is_ignored_by_the_store():
    product = make_product(quantity=5)
    reservations.rebuild([product.id])
    _, version, _ = stored(product)

    reservations.publish_on_hand({product.id: OnHand(8, version + 2)})  # a restock committed later...
    reservations.publish_on_hand({product.id: OnHand(6, version + 1)})  # ...arrives before an older change
    reservations.publish_on_hand({product.id: OnHand(1, version + 2)})  # the same version again changes nothing

    assert stored(product)[:2] == (8, version + 2)
    assert available(product) == 8


def test_a_reservation_takes_every_line_or_none_and_says_what_is_short():
    a, b = make_product(quantity=5), make_product(quantity=1)

    refused = reservations.reserve("cart:all", {a.public_id: 2, b.public_id: 2}, ttl_seconds=60)

    assert (refused.ok, refused.short, refused.deltas) == (False, {b.public_id: 1}, {})
    assert (available(a), available(b)) == (5, 1)
    assert not reservations.held_by("cart:all")


def test_caps_refuse_a_change_and_name_the_cap():
    a, b = make_product(quantity=50), make_product(quantity=50)
    reservations.reserve("cart:caps", {a.public_id: 4}, ttl_seconds=60, max_units_per_product=5, max_lines=1)

    over_units = reservations.reserve("cart:caps", {a.public_id: 2}, ttl_seconds=60, max_units_per_product=5, max_lines=1)
    over_lines = reservations.reserve("cart:caps", {b.public_id: 1}, ttl_seconds=60, max_units_per_product=5, max_lines=1)

    assert over_units.cap == reservations.UnitsCap(a.public_id, 5, 4)
    assert over_lines.cap == reservations.LinesCap(1)
    assert reservations.held_by("cart:caps").lines == {a.public_id: 4}


def test_an_expired_hold_gives_its_stock_back_before_it_reserves_again():
    product = make_product(quantity=5)
    reservations.reserve("cart:old", {product.public_id: 4}, ttl_seconds=60)
    get_redis().zadd(inventory.EXPIRY_KEY, {"cart:old": 1})  # long past

    assert not reservations.held_by("cart:old")  # reads as empty at once
    again = reservations.reserve("cart:old", {product.public_id: 1}, ttl_seconds=60)

    assert again.ok and again.deltas == {product.public_id: 1}
    assert reservations.held_by("cart:old").lines == {product.public_id: 1}
    assert available(product) == 4


def test_release_of_expired_holds_only_releases_what_is_due_and_only_once():
    product = make_product(quantity=5)
    reservations.reserve("cart:due", {product.public_id: 2}, ttl_seconds=60)
    reservations.reserve("cart:live", {product.public_id: 1}, ttl_seconds=60)
    get_redis().zadd(inventory.EXPIRY_KEY, {"cart:due": 1})

    assert reservations.expired_holders() == ["cart:due"]
    assert reservations.release("cart:live", only_if_expired=True) == reservations.Release(False, 0)
    assert reservations.release("cart:due", only_if_expired=True) == reservations.Release(True, 2)
    assert reservations.release("cart:due", only_if_expired=True) == reservations.Release(False, 0)
    assert available(product) == 4


def test_transferring_an_expired_hold_releases_it_instead():
    product = make_product(quantity=5)
    reservations.reserve("cart:gone", {product.public_id: 3}, ttl_seconds=60)
    get_redis().zadd(inventory.EXPIRY_KEY, {"cart:gone": 1})

    moved = reservations.transfer("cart:gone", "order:gone", ttl_seconds=60)

    assert not moved
    assert live_holds() == []
    assert available(product) == 5


def test_a_missing_availability_key_is_rebuilt_from_postgresql():
    product = make_product(quantity=5)
    get_redis().flushdb()  # Redis restarted empty

    assert reservations.reserve("cart:fresh", {product.public_id: 2}, ttl_seconds=60).ok
    assert stored(product)[0] == 5
    assert available(product) == 3
