import uuid
from decimal import Decimal

import pytest

from opply.catalog.models import Product, Stock
from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.common.testing import assert_problem

pytestmark = pytest.mark.django_db

LIST = "/api/catalog/products/"


def ids(response):
    return [row["id"] for row in response.json()["results"]]


def test_list_shape(customer_client):
    category = CategoryFactory(name="Dairy alternatives", slug="dairy-alternatives")
    product = make_product(name="Oat milk 1L", sku="OAT-1L", price="2.40", quantity=17, category=category)

    response = customer_client.get(LIST)

    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "count_exact": True,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": str(product.public_id),
                "name": "Oat milk 1L",
                "sku": "OAT-1L",
                "price": "2.40",
                "quantity_in_stock": 17,
                "category": {"id": str(category.public_id), "name": "Dairy alternatives", "slug": "dairy-alternatives"},
            }
        ],
    }


def test_anonymous_gets_401(api_client):
    assert_problem(api_client.get(LIST), 401)


def test_pagination_defaults_next_previous_and_cap(customer_client):
    for n in range(25):
        make_product(name=f"P{n:02d}")

    first = customer_client.get(LIST).json()
    assert (first["count"], first["count_exact"], len(first["results"])) == (25, True, 20)
    assert first["previous"] is None
    assert "cursor=" in first["next"]

    second = customer_client.get(first["next"]).json()
    assert len(second["results"]) == 5
    assert second["next"] is None
    assert "cursor=" in second["previous"]
    assert {r["id"] for r in first["results"]}.isdisjoint({r["id"] for r in second["results"]})
    assert customer_client.get(second["previous"]).json()["results"] == first["results"]
    # page=2 is the same page as the first cursor's
    assert customer_client.get(LIST, {"page": 2}).json()["results"] == second["results"]

    assert len(customer_client.get(LIST, {"page_size": 1000}).json()["results"]) == 25  # capped at 100, 25 exist
    assert len(customer_client.get(LIST, {"page_size": 7}).json()["results"]) == 7


def test_page_size_is_capped_at_100(customer_client):
    category = CategoryFactory()
    Product.objects.bulk_create([Product(sku=f"BULK-{n}", name=f"Bulk {n}", price=1, category=category, in_stock=True) for n in range(105)])

    assert len(customer_client.get(LIST, {"page_size": 500}).json()["results"]) == 100


def test_a_page_past_the_end_is_404(customer_client):
    make_product()

    assert_problem(customer_client.get(LIST, {"page": 2}), 404, "not_found")


def test_an_empty_catalog_has_an_empty_first_page(customer_client):
    assert customer_client.get(LIST).json()["count"] == 0


@pytest.mark.parametrize(
    "params,field",
    [
        ({"page": "abc"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page_size": "x"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"min_price": "cheap"}, "min_price"),
        ({"max_price": "-1"}, "max_price"),
        ({"min_price": "1e400"}, "min_price"),
        ({"ordering": "password"}, "ordering"),
        ({"in_stock": "maybe"}, "in_stock"),
        ({"search": "x" * 101}, "search"),
        ({"page": "last"}, "page"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(customer_client, params, field):
    make_product()

    body = assert_problem(customer_client.get(LIST, params), 400, "validation_error")
    assert field in body["errors"]


def test_filter_by_category_slug(customer_client):
    coffee = CategoryFactory(slug="coffee")
    wanted = make_product(category=coffee)
    make_product()

    assert ids(customer_client.get(LIST, {"category": "coffee"})) == [str(wanted.public_id)]
    assert ids(customer_client.get(LIST, {"category": "nope"})) == []


def test_search_words_of_the_name_by_prefix_any_case(customer_client):
    bean = make_product(name="Coffee BEANS dark", sku="CB-1")
    make_product(name="Something", sku="XBEAN-9")
    make_product(name="Tea", sku="TEA-1")

    assert set(ids(customer_client.get(LIST, {"search": "bean"}))) == {str(bean.public_id)}
    assert set(ids(customer_client.get(LIST, {"search": "xbe"}))) == set()  # SKUs are matched exactly, never by parts
    assert set(ids(customer_client.get(LIST, {"search": "coff da"}))) == {str(bean.public_id)}  # every word, as typed so far
    assert set(ids(customer_client.get(LIST, {"search": "coffee tea"}))) == set()
    assert set(ids(customer_client.get(LIST, {"search": "%"}))) == set()  # no wildcards
    assert set(ids(customer_client.get(LIST, {"search": "a:* | b & !c ('"}))) == set()  # tsquery syntax is not interpreted


def test_search_finds_an_exact_sku_in_any_case_and_only_it(customer_client):
    odd = make_product(name="Odd one", sku="A.B_C-9")
    make_product(name="Other", sku="A.B_C-99")
    make_product(name="Oat A B C 9")  # its words, but not its SKU

    assert ids(customer_client.get(LIST, {"search": "a.b_c-9"})) == [str(odd.public_id)]


def test_a_narrow_search_is_ranked_by_relevance_a_broad_one_lists_the_newest_first(customer_client, monkeypatch):
    from opply.catalog import search

    once = make_product(name="Almond oat bar")
    twice = make_product(name="Oat and oat bar")
    make_product(name="Rice")

    assert ids(customer_client.get(LIST, {"search": "oat"})) == [str(twice.public_id), str(once.public_id)]
    assert ids(customer_client.get(LIST, {"search": "oat", "ordering": "name"})) == [str(once.public_id), str(twice.public_id)]

    newest_first = [str(twice.public_id), str(once.public_id)]
    assert ids(customer_client.get(LIST, {"search": "oat", "ordering": "-created_at"})) == newest_first
    once.name = "Almond oat oat oat bar"  # now the more relevant one, and still the older
    once.save()
    assert ids(customer_client.get(LIST, {"search": "oat", "in_stock": "true"})) == [str(once.public_id), str(twice.public_id)]

    monkeypatch.setattr(search, "RANK_LIMIT", 1)
    assert ids(customer_client.get(LIST, {"search": "oat", "in_stock": "false"})) == newest_first


def test_price_range(customer_client):
    cheap = make_product(price="1.00")
    mid = make_product(price="5.00")
    make_product(price="10.00")

    assert set(ids(customer_client.get(LIST, {"min_price": "1", "max_price": "9.99"}))) == {str(cheap.public_id), str(mid.public_id)}
    assert ids(customer_client.get(LIST, {"min_price": "5.01", "max_price": "9.99"})) == []


@pytest.mark.parametrize("ordering", ["name", "-name", "price", "-price", "created_at", "-created_at"])
def test_ordering(customer_client, ordering):
    products = [make_product(name=name, price=price) for name, price in [("b", "3"), ("a", "2"), ("c", "1")]]

    response = customer_client.get(LIST, {"ordering": ordering})

    field = ordering.lstrip("-")
    key = {"name": lambda p: p.name, "price": lambda p: p.price, "created_at": lambda p: p.created_at}[field]
    expected = sorted(products, key=key, reverse=ordering.startswith("-"))
    assert ids(response) == [str(p.public_id) for p in expected]


def test_out_of_stock_products_are_left_out_by_default(customer_client, staff_client):
    available = make_product(quantity=3)
    sold_out = make_product(quantity=0)

    assert ids(customer_client.get(LIST)) == [str(available.public_id)]
    assert ids(customer_client.get(LIST, {"in_stock": "true"})) == [str(available.public_id)]
    everything = customer_client.get(LIST, {"in_stock": "false"})
    assert set(ids(everything)) == {str(available.public_id), str(sold_out.public_id)}
    assert {r["id"]: r["quantity_in_stock"] for r in everything.json()["results"]}[str(sold_out.public_id)] == 0
    # Staff see everything by default.
    assert set(ids(staff_client.get(LIST))) == {str(available.public_id), str(sold_out.public_id)}


def test_inactive_products_are_hidden_from_customers_but_not_staff(customer_client, staff_client):
    retired = make_product()
    retired.is_active = False
    retired.save()

    assert ids(customer_client.get(LIST, {"in_stock": "false"})) == []
    assert_problem(customer_client.get(f"{LIST}{retired.public_id}/"), 404)
    assert ids(staff_client.get(LIST)) == [str(retired.public_id)]


def test_the_same_url_is_the_customers_list_for_a_customer_and_the_staff_list_for_staff(customer_client, staff_client):
    """Parsed queries are remembered per process by query string *and* who asks."""
    retired = make_product()
    retired.is_active = False
    retired.save()

    for _ in range(2):
        assert ids(customer_client.get(LIST, {"in_stock": "false"})) == []
        assert ids(staff_client.get(LIST, {"in_stock": "false"})) == [str(retired.public_id)]


def test_a_refused_query_is_refused_every_time_and_never_remembered(customer_client):
    from opply.catalog.apis import _RECENT_QUERIES

    remembered = len(_RECENT_QUERIES)
    for _ in range(2):
        assert_problem(customer_client.get(LIST, {"page": "0"}), 400)
        assert_problem(customer_client.get(LIST, {"cursor": "bm90IGEgY3Vyc29y"}), 400)

    assert len(_RECENT_QUERIES) == remembered


def test_detail_answers_in_stock_or_not(customer_client):
    sold_out = make_product(quantity=0, price="3.50")

    body = customer_client.get(f"{LIST}{sold_out.public_id}/").json()

    assert body["id"] == str(sold_out.public_id)
    assert body["quantity_in_stock"] == 0
    assert body["price"] == "3.50"


@pytest.mark.parametrize("suffix", [f"{uuid.uuid4()}/", "not-a-uuid/", "12/"])
def test_unknown_or_malformed_product_is_404(customer_client, suffix):
    assert_problem(customer_client.get(f"{LIST}{suffix}"), 404)


@pytest.mark.parametrize("page_size", [1, 20, 100])
def test_a_page_costs_a_constant_number_of_queries(customer_client, django_assert_num_queries, page_size):
    categories = [CategoryFactory() for _ in range(5)]
    products = Product.objects.bulk_create(
        [Product(sku=f"Q-{n}", name=f"Q {n}", price=Decimal("1.00"), category=categories[n % 5], in_stock=True) for n in range(120)]
    )
    Stock.objects.bulk_create([Stock(product=p, on_hand=3) for p in products])

    # Cold: the count (the planner's estimate, then an exact count: 120
    # products), the page, on-hand stock to build the availability keys, then
    # whether any accepted order awaits fulfilment (none here; otherwise its
    # holds on those products are restored, so a rebuilt key never offers them).
    # Warm: none at all; the caller is known from the token, the page and the
    # quantities come from Redis.
    with django_assert_num_queries(5):
        cold = customer_client.get(LIST, {"page_size": page_size})
    with django_assert_num_queries(0):
        warm = customer_client.get(LIST, {"page_size": page_size})
    assert cold.json() == warm.json()
    assert len(warm.json()["results"]) == page_size
    assert {row["quantity_in_stock"] for row in warm.json()["results"]} == {3}


def test_a_cached_page_rebuilds_a_missing_availability_key(customer_client):
    from opply.catalog import inventory
    from opply.common.redis import get_redis

    product = make_product(quantity=6)
    customer_client.get(LIST)  # page cached, availability key built
    get_redis().delete(inventory.product_key(product.id))

    assert customer_client.get(LIST).json()["results"][0]["quantity_in_stock"] == 6


def test_the_per_user_rate_limit_counts_each_request_once(customer_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/day"},
    }
    make_product()

    statuses = [customer_client.get(LIST).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Counts the writes to Redis sockets (one per command or pipeline: a round
    trip each); the real Redis still answers."""
    from redis.connection import AbstractConnection

    sent = []
    send = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        sent.append(command)
        return send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


@pytest.mark.parametrize("params", [{}, {"search": "oat", "ordering": "-price"}, {"page": 2, "page_size": 1}])
def test_a_cached_page_costs_one_redis_round_trip(customer_client, redis_round_trips, params):
    make_product(name="Oat milk 1L", quantity=4)
    make_product(name="Oat flakes", quantity=2)
    cold = customer_client.get(LIST, params)
    redis_round_trips.clear()

    warm = customer_client.get(LIST, params)

    # Authentication's checks (revocation, pin, rate limit) and the page's
    # read with its live quantities share one pipeline.
    assert len(redis_round_trips) == 1
    assert (warm["X-Cache"], cold["X-Cache"]) == ("hit", "miss")
    assert warm.json() == cold.json()


@pytest.mark.parametrize("params", [{}, {"search": "oat", "ordering": "-price"}, {"in_stock": "false", "page_size": 1}])
def test_a_missed_page_costs_two_redis_round_trips(customer_client, redis_round_trips, params):
    from opply.catalog import cache

    make_product(name="Oat milk 1L", quantity=4)
    make_product(name="Oat flakes", quantity=2)
    customer_client.get(LIST, params)  # builds the availability keys
    cache.bump_catalog_version()  # every page and count gone
    redis_round_trips.clear()

    cold = customer_client.get(LIST, params)

    # Authentication's pipeline with the page's read (and its list's count);
    # then the page stored with its count, and its live quantities read back.
    assert len(redis_round_trips) == 2
    assert cold["X-Cache"] == "miss"
    assert all(row["quantity_in_stock"] == {"Oat milk 1L": 4, "Oat flakes": 2}[row["name"]] for row in cold.json()["results"])
    assert customer_client.get(LIST, params).json() == cold.json()


def test_the_next_page_of_a_list_reads_its_cached_count_with_the_page(customer_client, redis_round_trips, django_assert_num_queries):
    for name in ("Almonds", "Barley", "Cashews"):
        make_product(name=name, quantity=3)
    first = customer_client.get(LIST, {"page_size": 1}).json()
    customer_client.get(LIST, {"page_size": 3})  # builds every availability key
    redis_round_trips.clear()

    # Its rows and nothing else from the database; from Redis, the page's
    # read with the list's count, then the page stored with its quantities.
    with django_assert_num_queries(1):
        second = customer_client.get(first["next"])

    assert len(redis_round_trips) == 2
    assert (second["X-Cache"], second.json()["count"], second.json()["results"][0]["name"]) == ("miss", 3, "Barley")


def test_a_page_past_the_end_still_caches_its_lists_count(customer_client, django_assert_num_queries):
    from opply.catalog import cache

    make_product(quantity=1)
    make_product(quantity=1)
    customer_client.get(LIST)  # builds the availability keys
    cache.bump_catalog_version()  # every page and count gone

    assert_problem(customer_client.get(LIST, {"page": 2}), 404, "not_found")
    with django_assert_num_queries(1):  # the page's rows: its count was cached by the 404
        assert customer_client.get(LIST).json()["count"] == 2


def test_a_revoked_token_gets_no_cached_page(customer, customer_client):
    from opply.identity.authentication import revoke_issued_tokens

    make_product()
    assert customer_client.get(LIST).status_code == 200  # cached, and the token verified once
    revoke_issued_tokens(customer.public_id)

    assert_problem(customer_client.get(LIST), 401, "token_revoked")


def test_a_throttled_request_gets_no_cached_page(customer_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "1/day"},
    }
    make_product()
    assert customer_client.get(LIST).status_code == 200

    response = customer_client.get(LIST)

    assert_problem(response, 429)
    assert "results" not in response.json()


def test_a_page_read_redis_forgot_the_script_of_is_read_again(customer_client):
    from opply.common.redis import get_redis

    make_product(name="Oat milk 1L", quantity=4)
    cold = customer_client.get(LIST)
    get_redis().script_flush()  # a Redis restart or failover: the prefetched script call answers NOSCRIPT

    warm = customer_client.get(LIST)

    assert (warm.status_code, warm["X-Cache"]) == (200, "hit")
    assert warm.json() == cold.json()


def test_a_cached_page_keeps_names_with_line_breaks_and_separators(customer_client):
    # A cached page is stored as lines and separated rows (opply/catalog/cache.py):
    # the rows' JSON escapes both, so no name can break it.
    make_product(name='Line\nbreak \x1e separator, "quoted" é', quantity=2)
    make_product(name="Plain", quantity=1)

    cold = customer_client.get(LIST)
    warm = customer_client.get(LIST)

    assert (cold["X-Cache"], warm["X-Cache"]) == ("miss", "hit")
    assert warm.json() == cold.json()
    assert warm.json()["results"][0]["name"] == 'Line\nbreak \x1e separator, "quoted" é'


def test_the_list_says_which_methods_it_allows_on_every_answer(customer_client, staff_client):
    answers = [customer_client.get(LIST), customer_client.get(LIST), staff_client.put(LIST, {}, format="json")]

    assert [answer["Allow"] for answer in answers] == ["GET, POST, HEAD, OPTIONS"] * 3
    assert answers[2].status_code == 405


def test_the_schema_generators_look_at_the_list_leaves_its_allow_header_whole(customer_client, monkeypatch):
    """drf-spectacular instantiates views without setting them up (no HEAD)."""
    from opply.catalog import apis

    monkeypatch.setattr(apis, "_ALLOWED_METHODS", {})
    assert "HEAD" not in apis.ProductListApi().allowed_methods

    assert customer_client.get(LIST)["Allow"] == "GET, POST, HEAD, OPTIONS"
