"""The product list at scale: cursors, bounds, counts, scoped invalidation (issue 14)."""

import base64
import datetime as dt
import json
import uuid
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.pagination import Cursor
from rest_framework.request import Request

from opply.catalog import selectors, services
from opply.catalog.models import Product
from opply.catalog.pagination import MAX_PAGE, Ordering, Position, ProductCursorPagination, _dump
from opply.catalog.serializers import ProductDetailSerializer, ProductSerializer
from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.common.testing import assert_problem

pytestmark = pytest.mark.django_db

LIST = "/api/catalog/products/"
ORDERINGS = ["name", "-name", "price", "-price", "created_at", "-created_at"]


def ids(body):
    return [row["id"] for row in body["results"]]


def walk(client, url, link="next"):
    """Every page from ``url`` on, following ``link``: a list of pages' ids."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        pages.append(ids(body))
        url = body[link]
    return pages


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_a_cursor_walk_sees_every_product_once_while_products_are_added_and_sold_out(customer_client, ordering):
    # Ties everywhere (seven names, five prices): the public id breaks them.
    products = [make_product(name=f"P{n % 7}", price=f"{n % 5}.00") for n in range(45)]
    sell_out = products[3::8]
    stays = {str(p.public_id) for p in products} - {str(p.public_id) for p in sell_out}

    seen: list[str] = []
    url = f"{LIST}?ordering={ordering}&page_size=4"
    step = 0
    while url:
        body = customer_client.get(url).json()
        seen += ids(body)
        # Between two pages the catalog changes: products arrive (sorting
        # anywhere) and others sell out.
        make_product(name=f"P{step % 7}", price=f"{step % 5}.00")
        if step < len(sell_out):
            services.stock_adjust(product=sell_out[step], quantity=0, actor="test")
        url = body["next"]
        step += 1

    assert len(seen) == len(set(seen)), "a product was listed twice"
    assert stays <= set(seen), "a product that stayed listed was skipped"
    assert step > 10


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_previous_links_walk_back_through_the_same_pages(customer_client, ordering):
    for n in range(23):
        make_product(name=f"P{n % 4}", price=f"{n % 3}.50")

    forward = walk(customer_client, f"{LIST}?ordering={ordering}&page_size=5")
    assert [len(page) for page in forward] == [5, 5, 5, 5, 3]
    last = customer_client.get(f"{LIST}?ordering={ordering}&page_size=5&page=5").json()
    assert ids(last) == forward[-1]

    backward = walk(customer_client, last["previous"], link="previous")
    assert backward == forward[-2::-1]
    everything = customer_client.get(LIST, {"ordering": ordering, "page_size": 100}).json()
    assert [pid for page in forward for pid in page] == ids(everything)


@pytest.mark.parametrize("ordering", ORDERINGS)
@pytest.mark.parametrize("who", ["customer_client", "staff_client"])
def test_a_category_walks_by_cursor_both_ways_in_its_own_order(request, ordering, who):
    """A category's pages are keyed on (category, key, public_id) where its
    own index serves them (the customers' list; staff by price): the same
    rows, in the same order, as the category's full list."""
    client = request.getfixturevalue(who)
    coffee, other = CategoryFactory(slug="coffee"), CategoryFactory(slug="tea")
    for n in range(23):
        make_product(name=f"P{n % 4}", price=f"{n % 3}.50", category=coffee if n % 3 else other)
        make_product(name=f"P{n % 5}", price=f"{n % 2}.50", category=other)

    forward = walk(client, f"{LIST}?category=coffee&ordering={ordering}&page_size=4")
    everything = client.get(LIST, {"category": "coffee", "ordering": ordering, "page_size": 100}).json()
    assert [pid for page in forward for pid in page] == ids(everything)
    assert len(ids(everything)) == 15
    last = client.get(f"{LIST}?category=coffee&ordering={ordering}&page_size=4&page=4").json()
    assert walk(client, last["previous"], link="previous") == forward[-2::-1]


def test_a_cursor_keeps_the_filters_of_its_link(customer_client):
    coffee = CategoryFactory(slug="coffee")
    wanted = [make_product(category=coffee, price="5.00") for _ in range(5)]
    make_product(price="5.00")

    pages = walk(customer_client, f"{LIST}?category=coffee&min_price=1&page_size=2")

    assert sorted(pid for page in pages for pid in page) == sorted(str(p.public_id) for p in wanted)


def test_shallow_pages_are_bounded_and_a_deeper_one_says_to_follow_the_cursor(customer_client):
    make_product()

    assert_problem(customer_client.get(LIST, {"page": MAX_PAGE}), 404, "not_found")
    body = assert_problem(customer_client.get(LIST, {"page": MAX_PAGE + 1}), 400, "validation_error")
    assert "cursor" in body["errors"]["page"][0]


def test_page_and_cursor_together_are_refused(customer_client):
    make_product()
    make_product()
    next_url = customer_client.get(LIST, {"page_size": 1}).json()["next"]

    body = assert_problem(customer_client.get(next_url + "&page=1"), 400, "validation_error")
    assert "page" in body["errors"]


def token(payload: str) -> str:
    return base64.b64encode(payload.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        "",
        token("p=not-json"),
        token("o=3&p=%5B%22name%22%2C%22a%22%2C%2200000000-0000-0000-0000-000000000000%22%5D"),  # an offset we never issue
        token('p=["name","a","not-a-uuid"]'),
        token('p=["sku","a","00000000-0000-0000-0000-000000000000"]'),  # not an ordering
        token('p=["price","NaN","00000000-0000-0000-0000-000000000000"]'),
        token('p=["price","1e999","00000000-0000-0000-0000-000000000000"]'),
        token('p=["created_at","yesterday","00000000-0000-0000-0000-000000000000"]'),
        token('p=["created_at","2026-01-01T00:00:00","00000000-0000-0000-0000-000000000000"]'),  # no time zone
        token('p=["name",5,"00000000-0000-0000-0000-000000000000"]'),
        token('p=["name","a"]'),
        token("r=x&p=x"),
    ],
)
def test_a_bad_cursor_is_a_400_naming_it_and_changes_nothing(customer_client, cursor):
    make_product()

    body = assert_problem(customer_client.get(LIST, {"cursor": cursor}), 400, "validation_error")

    assert "cursor" in body["errors"]


def test_a_cursor_of_another_ordering_is_refused(customer_client):
    make_product(price="1.00")
    make_product(price="2.00")
    by_price = customer_client.get(LIST, {"ordering": "-price", "page_size": 1}).json()["next"]

    body = assert_problem(customer_client.get(by_price.replace("ordering=-price", "ordering=name")), 400, "validation_error")
    assert "ordering=-price" in body["errors"]["cursor"][0]


def test_a_cursor_given_twice_is_refused(customer_client):
    make_product()
    make_product()
    next_url = customer_client.get(LIST, {"page_size": 1}).json()["next"]
    cursor = next_url.split("cursor=")[1]

    assert_problem(customer_client.get(f"{next_url}&cursor={cursor}"), 400, "validation_error")


def test_the_count_is_exact_when_cheap_and_an_estimate_flagged_as_such_otherwise(customer_client, monkeypatch):
    for _ in range(7):
        make_product()
    assert customer_client.get(LIST).json()["count_exact"] is True

    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 3)
    # another list (not cached), and not its last page (that would make it exact)
    body = customer_client.get(LIST, {"in_stock": "true", "page_size": 2}).json()

    assert body["count_exact"] is False
    assert body["count"] >= 4  # never below what was counted


def test_every_page_of_a_list_shares_one_cached_count(customer_client, django_assert_num_queries):
    for _ in range(6):
        make_product()
    customer_client.get(LIST, {"page_size": 6})  # builds every availability key
    first = customer_client.get(LIST, {"page_size": 2}).json()

    # The next page: its rows and nothing else (the count cached by the first
    # request, whatever its page size; quantities in Redis).
    with django_assert_num_queries(1):
        second = customer_client.get(first["next"]).json()
    assert second["count"] == 6


def cache_state(client, params):
    response = client.get(LIST, params)
    assert response.status_code == 200
    return response["X-Cache"], ids(response.json())


def test_a_product_selling_out_keeps_the_cached_pages_it_cannot_appear_in(customer_client, django_capture_on_commit_callbacks):
    coffee, tea_category = CategoryFactory(slug="coffee"), CategoryFactory(slug="tea")
    espresso = make_product(name="Espresso beans", category=coffee, quantity=5)
    green = make_product(name="Green tea", category=tea_category, quantity=5)
    lists = {
        "tea search": {"search": "tea"},
        "tea category": {"category": "tea"},
        "espresso search": {"search": "espr"},
        "coffee category": {"category": "coffee"},
        "everything": {},
        "staff-like in_stock=false": {"in_stock": "false"},
    }
    for params in lists.values():
        assert cache_state(customer_client, params)[0] == "miss"
        assert cache_state(customer_client, params)[0] == "hit"

    with django_capture_on_commit_callbacks(execute=True):
        services.stock_adjust(product=espresso, quantity=0, actor="test")

    after = {name: cache_state(customer_client, params) for name, params in lists.items()}
    assert after["tea search"] == ("hit", [str(green.public_id)])
    assert after["tea category"] == ("hit", [str(green.public_id)])
    assert after["staff-like in_stock=false"][0] == "hit"  # it lists sold-out products too
    assert after["espresso search"] == ("miss", [])
    assert after["coffee category"] == ("miss", [])
    assert after["everything"] == ("miss", [str(green.public_id)])

    with django_capture_on_commit_callbacks(execute=True):
        services.stock_adjust(product=espresso, quantity=3, actor="test")

    assert cache_state(customer_client, {"search": "espr"}) == ("miss", [str(espresso.public_id)])
    assert cache_state(customer_client, {"search": "tea"})[0] == "hit"


def test_a_catalog_write_still_invalidates_every_cached_page(customer_client, django_capture_on_commit_callbacks):
    green = make_product(name="Green tea")
    assert cache_state(customer_client, {"search": "tea"})[0] == "miss"

    with django_capture_on_commit_callbacks(execute=True):
        services.product_update(product=green, data={"name": "Green tea leaves"})

    assert cache_state(customer_client, {"search": "tea"})[0] == "miss"


def test_the_hand_built_row_equals_the_serializers_output(customer_client):
    category = CategoryFactory(name="Dairy alternatives", slug="dairy-alternatives")
    product = make_product(name="Oat milk 1L", sku="OAT-1L", price=Decimal("2.40"), quantity=17, category=category)

    listed = customer_client.get(LIST).json()["results"][0]
    detail = customer_client.get(f"{LIST}{product.public_id}/").json()

    fresh = selectors.with_quantity(Product.objects.select_related("category").get(pk=product.pk))
    assert listed == json.loads(json.dumps(ProductSerializer(fresh).data))
    assert detail == json.loads(json.dumps(ProductDetailSerializer(fresh).data))
    assert detail["created_at"].endswith("Z") and detail["updated_at"].endswith("Z")


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_a_search_pages_the_same_whether_its_rows_are_among_the_first_of_the_list_or_not(customer_client, monkeypatch, ordering):
    from opply.common.redis import get_redis

    smoked = [make_product(name=f"Smoked item {n % 4}", price=f"{n % 5}.00") for n in range(10)]
    for n in range(20):
        make_product(name=f"Plain item {n % 4}", price=f"{n % 5}.00")
    url = f"{LIST}?search=smo&ordering={ordering}&page_size=3"

    monkeypatch.setattr(selectors, "SEARCH_WINDOW", 100)  # every page found in the first rows
    found_early = walk(customer_client, url)
    third = customer_client.get(url + "&page=3").json()
    monkeypatch.setattr(selectors, "SEARCH_WINDOW", 1)  # never: every match fetched and sorted
    get_redis().flushdb()

    assert walk(customer_client, url) == found_early
    assert customer_client.get(url + "&page=3").json()["results"] == third["results"]
    assert sorted(pid for page in found_early for pid in page) == sorted(str(p.public_id) for p in smoked)


def test_a_ranked_search_walks_by_cursor_without_gaps_or_duplicates(customer_client):
    matches = [make_product(name="Oat " * (1 + n % 3) + f"bar {n}") for n in range(14)]
    make_product(name="Rice")

    pages = walk(customer_client, f"{LIST}?search=oat&page_size=4")
    seen = [pid for page in pages for pid in page]
    back = walk(customer_client, customer_client.get(f"{LIST}?search=oat&page_size=4&page=4").json()["previous"], link="previous")

    assert sorted(seen) == sorted(str(p.public_id) for p in matches)
    assert back == pages[-2::-1]
    assert seen[:4] == [
        str(p.public_id) for p in sorted(matches[2::3], key=lambda p: str(p.public_id), reverse=True)
    ]  # "Oat Oat Oat" first


def test_the_last_page_of_an_estimated_list_makes_its_count_exact(customer_client, monkeypatch):
    for _ in range(5):
        make_product()
    monkeypatch.setattr(selectors, "ESTIMATE_ONLY_ABOVE", -1)  # every list estimated

    first = customer_client.get(LIST, {"page_size": 3}).json()
    last = customer_client.get(LIST, {"page_size": 3, "page": 2}).json()

    assert first["count_exact"] is False
    assert (last["count"], last["count_exact"]) == (5, True)
    assert customer_client.get(LIST, {"page_size": 3}).json()["count_exact"] is False  # that page is cached as it was


def test_a_search_counted_empty_reads_no_page(customer_client, django_assert_num_queries):
    # One category: words of different categories are ruled out by the vocabulary alone.
    shelf = CategoryFactory()
    make_product(name="Oat milk 1L", category=shelf)
    make_product(name="Smoked almonds", category=shelf)

    # The exact SKU lookup with the words the prefixes start (one query), the
    # planner's estimate, the count (0): the page itself is known to be empty
    # without a second pass over the search index.
    with django_assert_num_queries(3):
        body = customer_client.get(LIST, {"search": "oat almonds"}).json()

    assert (body["count"], body["count_exact"], body["results"]) == (0, True, [])
    assert_problem(customer_client.get(LIST, {"search": "oat", "page": 2}), 404, "not_found")


@pytest.mark.parametrize(
    "ordering,value",
    [
        ("name", 'Oat "milk" & more é 1L'),
        ("-price", Decimal("12.50")),
        ("created_at", dt.datetime(2026, 11, 26, 17, 0, 1, 123456, tzinfo=dt.UTC)),
        ("relevance", 0.0607927),
    ],
)
@pytest.mark.parametrize("reverse", [False, True])
def test_a_cursor_token_is_drfs_and_reads_back_as_its_position(rf, ordering, value, reverse):
    # Built without DRF's encode_cursor (opply/catalog/pagination.py), the same token.
    position = Position(Ordering.parse(ordering) if ordering != "relevance" else selectors.RELEVANCE, value, uuid.uuid4(), reverse)
    drf = ProductCursorPagination(base_url="/")
    drf_url = drf.encode_cursor(Cursor(offset=0, reverse=reverse, position=_dump(position)))

    token = ProductCursorPagination().token(position)

    assert token == parse_qs(urlsplit(drf_url).query)["cursor"][0]
    assert ProductCursorPagination().position(Request(rf.get(LIST, {"cursor": token}))) == position
