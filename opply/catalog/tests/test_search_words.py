"""Search prefixes spelled out as the words they start (opply/catalog/search.py,
migrations 0006 and 0007)."""

import itertools
import threading
from decimal import Decimal
from importlib import import_module
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from opply.catalog import search, selectors, services
from opply.catalog.models import Product
from opply.catalog.seed import seed_generated_catalog
from opply.catalog.tests.factories import CategoryFactory, make_product
from opply.catalog.vocabulary import refresh as refresh_vocabulary

pytestmark = pytest.mark.django_db

LIST = "/api/catalog/products/"

# Names whose words the parser splits in awkward ways: accents, capitals,
# digits with units, hyphens, dots, apostrophes, a backslash.
NAMES = [
    "Crème brûlée 250g",
    "CRÈME fraîche 1L",
    "Straße coffee beans",
    "Oat milk 1.5L 12-pack",
    "Oats rolled 25kg",
    "O'Brien's oat bars",
    "Back\\slash tea",
    "Yoghurt plain 500g",
    "Yoghurts mixed 12-pack",
    "Éclair au chocolat",
]


@pytest.fixture(autouse=True)
def own_vocabulary(request):
    """Words left by other tests' committed products (transactional tests
    do not roll back the vocabulary, which is no model table) would widen the
    expansions and bounds these tests spell out; this test's transaction
    starts without them (and gets them back when it rolls back)."""
    if "transactional_db" not in request.fixturenames:
        with connection.cursor() as cursor:
            cursor.execute('DELETE FROM "catalog"."search_word"')


def expanded(term: str, *, using: str = "default") -> str | None:
    expansion = search.expand(term, using=using)
    return expansion.query if expansion else None


def vocabulary() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute('SELECT word FROM "catalog"."search_word"')
        return {row[0] for row in cursor.fetchall()}


def lexemes(name: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(to_tsvector('simple', %s))", [name])
        return set(cursor.fetchone()[0])


def matching(query: str, *, literal: bool) -> set[int]:
    """Products matched by a tsquery literal (the search's), or by the text
    of a prefix query for to_tsquery (how every search matched before)."""
    match = "search_vector @@ %s::tsquery" if literal else "search_vector @@ to_tsquery('simple', %s)"
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id FROM "catalog"."product" WHERE {match}', [query])  # noqa: S608 - constant SQL
        return {row[0] for row in cursor.fetchall()}


def test_the_vocabulary_holds_every_word_of_every_name_written_one_by_one_or_in_bulk():
    product = make_product(name="Zesty quince jam")
    assert lexemes("Zesty quince jam") <= vocabulary()

    services.product_update(product=product, data={"name": "Tangy medlar jelly"})
    assert lexemes("Tangy medlar jelly") | lexemes("Zesty quince jam") <= vocabulary()  # old words stay: a superset

    seed_generated_catalog(300, batch_size=100, first_row=10_000)  # several bulk statements
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT count(*) FROM "catalog"."product", unnest(tsvector_to_array(search_vector)) AS w '
            'WHERE w NOT IN (SELECT word FROM "catalog"."search_word")'
        )
        assert cursor.fetchone()[0] == 0


def test_a_prefix_becomes_the_words_it_starts_or_stays_a_prefix_when_they_are_many():
    shelf = CategoryFactory()  # one: words of different categories would rule each other out
    for name in NAMES:
        make_product(name=name, category=shelf)

    assert expanded("yog") == "('yoghurt' | 'yoghurts')"
    assert expanded("OAT yoghurts") == "('oat' | 'oats') & ('yoghurts')"
    assert expanded("o'b") == "('o' | 'oat' | 'oats') & ('back' | 'bars' | 'beans' | 'brien' | 'brûlée')"
    assert expanded("quokka") is None  # starts no word: nothing can match
    assert expanded("oat quokka") is None
    assert expanded("%") is None


def test_a_prefix_that_starts_more_words_than_the_limit_stays_a_prefix(monkeypatch):
    for name in NAMES:
        make_product(name=name)
    monkeypatch.setattr(search, "EXPANSION_LIMIT", 1)

    assert expanded("yog oat") == "'yog':* & 'oat':*"
    assert expanded("yoghurts") == "('yoghurts')"


def test_the_expanded_search_matches_exactly_what_the_prefix_search_matched():
    products = {make_product(name=name).id: name for name in NAMES}
    words = sorted({word for name in NAMES for word in search.words(name)})
    prefixes = sorted({word[:n] for word in words for n in range(1, len(word) + 1)})
    terms = [*prefixes, *(" ".join(pair) for pair in itertools.combinations(words, 2))]

    for term in terms:
        before = matching(search.tsquery(term).replace("'", ""), literal=False) if search.tsquery(term) else set()
        spelled = expanded(term)
        after = matching(spelled, literal=True) if spelled else set()
        assert after == before, (term, spelled, [products[pk] for pk in before ^ after])
    assert any(matching(expanded(term) or "x", literal=True) for term in terms)


def test_the_list_finds_products_by_any_prefix_of_any_word(customer_client):
    found = {name: str(make_product(name=name).public_id) for name in NAMES}

    def names(params):
        response = customer_client.get(LIST, params)
        assert response.status_code == 200, response.json()
        return {row["name"] for row in response.json()["results"]}

    assert names({"search": "crè"}) == {"Crème brûlée 250g", "CRÈME fraîche 1L"}
    assert names({"search": "12"}) == {"Oat milk 1.5L 12-pack", "Yoghurts mixed 12-pack"}
    assert names({"search": "pack yog"}) == {"Yoghurts mixed 12-pack"}
    assert names({"search": "stra", "ordering": "-price"}) == {"Straße coffee beans"}
    assert names({"search": "slash"}) == {"Back\\slash tea"}
    assert names({"search": "quokka"}) == set()
    assert len(found) == len(NAMES)


def test_an_unknown_word_is_answered_without_the_search_index(customer_client, django_assert_num_queries):
    make_product(name="Oat milk 1L")

    # One query: the exact SKU lookup and the words "quokka" starts (none):
    # no count, no page.
    with django_assert_num_queries(1):
        body = customer_client.get(LIST, {"search": "oat quokka"}).json()
    assert (body["count"], body["count_exact"], body["results"]) == (0, True, [])


@pytest.mark.parametrize("index", ["product_all_search", "product_list_search"])
def test_the_search_indexes_take_new_entries_at_once(index):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [f'"catalog"."{index}"'])
        assert "fastupdate=off" in (cursor.fetchone()[0] or [])


def plan_indexes(sql: str, params: list) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT json) {sql}", params)
        plan = cursor.fetchone()[0]
    found, nodes = set(), [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        found.add(node.get("Index Name"))
        nodes += node.get("Plans", [])
    return found - {None}


def test_a_customers_search_can_only_use_the_listed_products_index_and_any_other_list_the_index_of_all():
    make_product(name="Oat milk 1L")
    listed = 'SELECT id FROM "catalog"."product" WHERE is_active AND in_stock AND ' + search.match_sql(listed=True)  # noqa: S608
    everything = 'SELECT id FROM "catalog"."product" WHERE ' + search.match_sql(listed=False)  # noqa: S608
    query = expanded("oat")

    assert plan_indexes(listed, [query]) == {"product_list_search"}
    assert plan_indexes(everything, [query]) == {"product_all_search"}
    with connection.cursor() as cursor:
        cursor.execute('DROP INDEX "catalog"."product_list_search"')  # rolled back with the test
    # Without its own index, a customer's search has no full-text index to
    # use: the index of every product (which would read every sold-out match
    # of a word to throw it away) is not one it can be served from.
    assert plan_indexes(listed, [query]) & {"product_all_search"} == set()


def bounds(word: str) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute('SELECT name_min, name_max, price_min, price_max FROM "catalog"."search_word" WHERE word = %s', [word])
        return cursor.fetchone()


def categories_of(word: str) -> list[int] | None:
    with connection.cursor() as cursor:
        cursor.execute('SELECT category_ids FROM "catalog"."search_word" WHERE word = %s', [word])
        return cursor.fetchone()[0]


def every_product_lies_within_its_words() -> bool:
    """Each word of each product is in the vocabulary, with the product within its bounds and categories."""
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT count(*) FROM "catalog"."product" AS p, unnest(tsvector_to_array(p.search_vector)) AS w '
            'LEFT JOIN "catalog"."search_word" AS s ON s.word = w '
            "WHERE s.word IS NULL OR NOT (p.name BETWEEN s.name_min AND s.name_max AND p.price BETWEEN s.price_min AND s.price_max "
            "AND p.created_at BETWEEN s.created_min AND s.created_max AND p.category_id = ANY(s.category_ids))"
        )
        return cursor.fetchone()[0] == 0


def test_each_word_keeps_where_its_products_lie_and_the_bounds_only_widen():
    first = make_product(name="Mango salsa", price="4.00")
    make_product(name="Tomato salsa", price="6.50")
    assert bounds("salsa") == ("Mango salsa", "Tomato salsa", Decimal("4.00"), Decimal("6.50"))

    services.product_update(product=first, data={"name": "Avocado salsa", "price": Decimal("9.00")})
    # Widened by the new name; the old low price stays (a wider bound only walks longer).
    assert bounds("salsa") == ("Avocado salsa", "Tomato salsa", Decimal("4.00"), Decimal("9.00"))
    assert bounds("avocado") == ("Avocado salsa", "Avocado salsa", Decimal("9.00"), Decimal("9.00"))
    assert bounds("mango") == ("Mango salsa", "Mango salsa", Decimal("4.00"), Decimal("4.00"))

    seed_generated_catalog(50, batch_size=20, first_row=20_000)
    assert every_product_lies_within_its_words()


def test_each_word_keeps_the_categories_of_its_products_and_they_only_widen():
    coffee, tea = CategoryFactory(), CategoryFactory()
    beans = make_product(name="Espresso beans", category=coffee)
    make_product(name="Earl grey leaves", category=tea)
    assert categories_of("espresso") == categories_of("beans") == [coffee.id]
    assert categories_of("grey") == [tea.id]

    services.product_update(product=beans, data={"category": tea})
    # The category it moved to is added; the one it left stays (a search
    # there looks and finds nothing, never misses a product).
    assert categories_of("espresso") == sorted([coffee.id, tea.id])
    services.product_update(product=beans, data={"name": "Espresso roast"})
    assert categories_of("roast") == [tea.id]

    seed_generated_catalog(50, batch_size=20, first_row=30_000)  # bulk statements, every generated category
    assert every_product_lies_within_its_words()


def test_the_migration_fills_the_categories_of_the_products_of_now():
    fill = import_module("opply.catalog.migrations.0011_search_word_categories").FILL
    make_product(name="Espresso beans")
    seed_generated_catalog(30, batch_size=30, first_row=40_000)
    with connection.cursor() as cursor:
        cursor.execute('UPDATE "catalog"."search_word" SET category_ids = NULL')
        cursor.execute(fill)
        cursor.execute('SELECT count(*) FROM "catalog"."search_word" WHERE category_ids IS NULL')
        assert cursor.fetchone()[0] == 0  # every word of this test's products (and only those: own_vocabulary)
    assert every_product_lies_within_its_words()


def test_the_expanded_search_in_a_category_matches_exactly_what_the_prefix_search_matched_there():
    shelves = [CategoryFactory() for _ in range(3)]
    products = {make_product(name=name, category=shelves[n % 3]).id: (name, shelves[n % 3].id) for n, name in enumerate(NAMES)}
    words = sorted({word for name in NAMES for word in search.words(name)})
    prefixes = sorted({word[:n] for word in words for n in range(1, len(word) + 1)})
    terms = [*prefixes, *(" ".join(pair) for pair in itertools.combinations(words, 2))]

    ruled_out = 0
    for term in terms:
        before = matching(search.tsquery(term).replace("'", ""), literal=False) if search.tsquery(term) else set()
        for shelf in shelves:
            expansion = search.expand(term, using="default", category_id=shelf.id)
            spelled = expansion.query if expansion else None
            expected = {pk for pk in before if products[pk][1] == shelf.id}
            after = {pk for pk in matching(spelled, literal=True) if products[pk][1] == shelf.id} if spelled else set()
            assert after == expected, (term, shelf.id, spelled)
            ruled_out += spelled is None and search.expand(term, using="default") is not None
    assert ruled_out > 100  # the categories do rule searches out


def test_a_search_for_words_its_category_lacks_is_answered_from_the_vocabulary(customer_client, staff_client, django_assert_num_queries):
    coffee, tea = CategoryFactory(slug="coffee"), CategoryFactory(slug="tea")
    make_product(name="Espresso beans", category=coffee)
    make_product(name="Earl grey leaves", category=tea)
    make_product(name="Espresso cups", category=tea, quantity=0)  # in tea, but sold out

    # The category and one query of the vocabulary (with the exact SKU
    # lookup): no count, no walk of the category, no search index.
    with django_assert_num_queries(2):
        body = customer_client.get(LIST, {"search": "esp bea", "category": "tea"}).json()
    assert (body["count"], body["count_exact"], body["results"]) == (0, True, [])

    assert [row["name"] for row in customer_client.get(LIST, {"search": "esp bea", "category": "coffee"}).json()["results"]] == [
        "Espresso beans"
    ]
    # A word that does occur in the category is searched as before: the
    # sold-out product is no customer's, but staff see it.
    assert customer_client.get(LIST, {"search": "espresso", "category": "tea"}).json()["results"] == []
    assert [row["name"] for row in staff_client.get(LIST, {"search": "espresso", "category": "tea"}).json()["results"]] == ["Espresso cups"]


def test_a_search_of_words_that_share_no_category_is_answered_from_the_vocabulary(customer_client, django_assert_num_queries):
    coffee, tea = CategoryFactory(), CategoryFactory()
    make_product(name="Espresso beans", category=coffee)
    make_product(name="Earl grey leaves", category=tea)
    make_product(name="Green leaves", category=coffee)

    with django_assert_num_queries(1):  # the vocabulary (with the exact SKU lookup)
        body = customer_client.get(LIST, {"search": "espresso grey"}).json()
    assert (body["count"], body["count_exact"], body["results"]) == (0, True, [])
    # "lea" starts a word of both categories: searched as before.
    assert [row["name"] for row in customer_client.get(LIST, {"search": "esp lea"}).json()["results"]] == []
    assert [row["name"] for row in customer_client.get(LIST, {"search": "gre lea", "ordering": "name"}).json()["results"]] == [
        "Earl grey leaves",
        "Green leaves",
    ]


def test_a_prefix_that_starts_more_words_than_the_limit_is_not_ruled_out_by_the_category(customer_client, monkeypatch):
    coffee, tea = CategoryFactory(slug="coffee"), CategoryFactory(slug="tea")
    make_product(name="Espresso beans", category=coffee)
    make_product(name="Espressivo tea", category=tea)
    monkeypatch.setattr(search, "EXPANSION_LIMIT", 1)

    assert search.expand("espress", using="default", category_id=tea.id).query == "'espress':*"
    assert [row["name"] for row in customer_client.get(LIST, {"search": "espress", "category": "tea"}).json()["results"]] == [
        "Espressivo tea"
    ]


def test_refreshing_the_vocabulary_narrows_it_to_the_products_of_now(customer_client):
    coffee, tea = CategoryFactory(), CategoryFactory()
    first = make_product(name="Mango salsa", price="4.00", category=coffee)
    make_product(name="Tomato salsa", price="6.50", category=coffee)
    services.product_update(product=first, data={"name": "Avocado salsa", "price": Decimal("9.00"), "category": tea})
    assert "mango" in vocabulary()
    assert bounds("salsa") == ("Avocado salsa", "Tomato salsa", Decimal("4.00"), Decimal("9.00"))

    out = StringIO()
    call_command("refresh_search_words", stdout=out)

    assert "mango" not in vocabulary()
    assert bounds("salsa") == ("Avocado salsa", "Tomato salsa", Decimal("6.50"), Decimal("9.00"))
    assert categories_of("avocado") == [tea.id]
    assert categories_of("tomato") == [coffee.id]
    assert every_product_lies_within_its_words()
    assert out.getvalue().strip() == "search words: 3 held by products, 1 forgotten, 1 narrowed, 0 added"  # "salsa"

    def names(params):
        return [row["name"] for row in customer_client.get(LIST, params).json()["results"]]

    assert names({"search": "sal", "ordering": "price"}) == ["Tomato salsa", "Avocado salsa"]
    assert names({"search": "mango"}) == []
    assert refresh_vocabulary().narrowed == 0  # nothing left to narrow


def test_a_refreshed_vocabulary_still_holds_every_product_of_a_generated_catalog():
    seed_generated_catalog(60, batch_size=30, first_row=50_000)
    with connection.cursor() as cursor:
        cursor.execute('DELETE FROM "catalog"."search_word" WHERE word LIKE %s', ["o%"])  # lost by hand: added back

    done = refresh_vocabulary()

    assert done.added > 0
    assert every_product_lies_within_its_words()


def full_fetches(queries) -> list[str]:
    """Statements that fetch every match of a search and sort them (the
    selector's fallback orders by an expression no index has)."""
    return [q["sql"] for q in queries if "|| ''" in q["sql"] or "+ 0)" in q["sql"] or "interval '0'" in q["sql"]]


@pytest.mark.parametrize("in_category", [False, True], ids=["list", "category"])
@pytest.mark.parametrize("ordering", ["name", "-name", "price", "-price", "created_at", "-created_at"])
def test_a_search_walks_from_where_its_matches_lie_not_from_the_start_of_the_list(customer_client, monkeypatch, ordering, in_category):
    monkeypatch.setattr(selectors, "SEARCH_WINDOW", 3)
    category = CategoryFactory()
    # Twelve products before the matches in every order and twelve after:
    # a walk from either end of the list meets no match in its window.
    for n in range(12):
        make_product(name=f"Apple {n:02d}", price=f"{1 + n / 100:.2f}", category=category)
    matches = [make_product(name=f"Kale salsa {n}", price=f"{50 + n}.00", category=category) for n in range(4)]
    renamed = make_product(name="Quince salsa", price="55.00", category=category)
    make_product(name="Lime salsa", price="52.00")  # within every bound, in another category
    for n in range(12):
        make_product(name=f"Zucchini {n:02d}", price=f"{90 + n / 100:.2f}", category=category)
    services.product_update(product=renamed, data={"name": "Banana salsa"})  # now earlier: the bound widened
    Product.objects.filter(pk=matches[1].pk).update(price=Decimal("51.50"))
    tie_breaker = "-public_id" if ordering.startswith("-") else "public_id"
    listed = Product.objects.filter(name__contains="salsa", **({"category": category} if in_category else {}))
    expected = [str(p.public_id) for p in listed.order_by(ordering, tie_breaker)]
    assert len(expected) == (5 if in_category else 6)

    with CaptureQueriesContext(connection) as queries:
        params = {"search": "sals", "ordering": ordering, "page_size": 2, **({"category": category.slug} if in_category else {})}
        pages = [customer_client.get(LIST, params).json()]
        while pages[-1]["next"]:
            pages.append(customer_client.get(pages[-1]["next"]).json())
    # Every page was found by a walk from where "salsa" starts in this order
    # (the last one too: its walk reached the end of the bounds), never by
    # fetching every match and sorting them.
    assert full_fetches(queries.captured_queries) == []
    assert [row["id"] for page in pages for row in page["results"]] == expected


@pytest.mark.parametrize("ordering", ["name", "-price", "created_at"])
def test_a_search_in_a_category_with_nothing_in_stock_reads_no_match(customer_client, monkeypatch, ordering):
    monkeypatch.setattr(selectors, "SEARCH_WINDOW", 3)
    sold_out, other = CategoryFactory(), CategoryFactory()
    for n in range(10):
        make_product(name=f"Salted caramel {n}", quantity=0, category=sold_out)
        make_product(name=f"Salted butter {n}", category=other)

    with CaptureQueriesContext(connection) as queries:
        response = customer_client.get(LIST, {"search": "salted", "category": sold_out.slug, "ordering": ordering})
    assert response.status_code == 200, response.json()
    assert response.json()["results"] == []
    # The category's walk ended at once (nothing listed there): no fetch of
    # every "salted" product to find none of them in the category.
    assert full_fetches(queries.captured_queries) == []


def test_every_index_that_walks_a_category_holds_listed_products_only():
    # A customer's category walk could otherwise be served by an index of
    # every product, and read every sold-out product of the category to
    # throw it away (the planner estimates both at a row and may pick either).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'catalog' AND tablename = 'product'"
            " AND indexdef LIKE '%%(category_id, %%'"
        )
        walks = dict(cursor.fetchall())
    assert set(walks) == {"product_list_cat_name", "product_list_cat_price", "product_list_cat_created"}
    assert all(definition.endswith("WHERE (is_active AND in_stock)") for definition in walks.values()), walks


@pytest.mark.django_db(transaction=True)
def test_writes_of_products_that_share_words_do_not_wait_for_each_other():
    first = make_product(name="Xylofruit kvass 1L")
    second = make_product(name="Xylofruit mead 1L")
    held, release, failures = threading.Event(), threading.Event(), []

    def hold_a_write_of_the_first():
        try:
            with transaction.atomic():
                # A stock flag, as an order flips it: it widens no bound.
                Product.objects.filter(pk=first.pk).update(in_stock=False)
                held.set()
                release.wait(10)
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            connections.close_all()

    writer = threading.Thread(target=hold_a_write_of_the_first)
    writer.start()
    try:
        assert held.wait(10)
        # The same words ("xylofruit", "1l"), written while the first write is
        # open: it holds no lock on them (0008's trigger locked every word it
        # met). (A write that widens a word's bounds does hold that word until
        # it commits: staff edits, not orders.)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
            Product.objects.filter(pk=second.pk).update(in_stock=False)
            services.product_update(product=Product.objects.get(pk=second.pk), data={"name": "Xylofruit mead 2L"})
    finally:
        release.set()
        writer.join()
    assert failures == []
    assert bounds("xylofruit")[:2] == ("Xylofruit kvass 1L", "Xylofruit mead 2L")
