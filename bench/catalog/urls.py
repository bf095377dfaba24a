"""Request paths for the catalog benchmark's many-URL scenarios.

``longtail``: what real catalog traffic looks like once the first page is
cached: every customer searches other words, filters other categories and
price ranges, sorts differently and scrolls to other depths, so most requests
miss the page cache. The words come from the generated catalog's vocabulary
(``opply/catalog/seed.py``), truncated the way people type them.

``churn``: a small fixed set of searches that do not match a given product
name (the product the churn scenario sells out and restocks): with scoped
invalidation they stay cached whatever happens to that product.

``deep``: one path at a given depth of the default list: ``?page=N`` where
the API has only page numbers, else the cursor that starts right there.

Depth: where the API offers cursors (``opply.catalog.pagination``), the long
tail's "anywhere in the list" requests start at a cursor positioned on a
random listed product (the way a client that follows ``next`` gets there);
otherwise at a random ``page``. Either way the depth is uniform over the list.

Usage (run.sh does this)::

    python -m bench.catalog.urls longtail --count 50000 --pages 45000 --seed 1 > longtail.txt
    python -m bench.catalog.urls churn --avoid "Artisan almonds 1kg #12" > churn.txt
    python -m bench.catalog.urls deep --offset 899980
"""

from __future__ import annotations

import argparse
import random
import sys
from decimal import Decimal
from urllib.parse import urlencode

import django

# The benchmark's environment (DJANGO_SETTINGS_MODULE...) is exported by run.sh.
django.setup()

from opply.catalog.seed import ADJECTIVES, CATEGORIES, NOUNS  # noqa: E402 - needs the settings

try:
    from opply.catalog import pagination as cursors
except ImportError:  # an API with page numbers only (before issue 14)
    cursors = None

LIST = "/api/catalog/products/"
ORDERINGS = ["name", "-name", "price", "-price", "created_at", "-created_at"]
CATEGORY_SLUGS = [name.lower().replace(" ", "-") for name in CATEGORIES]
WORDS = sorted({word.lower() for phrase in ADJECTIVES + NOUNS for word in phrase.split()})


def typed(rng: random.Random, word: str) -> str:
    """A word as someone types it: often only its first letters (at least three)."""
    if len(word) <= 3 or rng.random() < 0.4:
        return word
    return word[: rng.randint(3, len(word))]


def search_terms(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.choice([1, 1, 2]))
    return " ".join([*words[:-1], typed(rng, words[-1])])


def price(rng: random.Random, low: float, high: float) -> str:
    return str(Decimal(rng.uniform(low, high)).quantize(Decimal("0.01")))


def random_cursors(rng: random.Random, count: int) -> dict[str, list[str]]:
    """Per ordering, cursors positioned on ``count`` random listed products."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [rng.random() * 2 - 1])
        cursor.execute(
            'SELECT public_id, name, price, created_at FROM "catalog"."product" TABLESAMPLE BERNOULLI (1)'
            " WHERE is_active AND in_stock ORDER BY random() LIMIT %s",
            [count],
        )
        rows = [dict(zip(("public_id", "name", "price", "created_at"), row, strict=True)) for row in cursor.fetchall()]
    return {ordering: [cursors.cursor_after(row, ordering) for row in rows] for ordering in ORDERINGS}


def longtail_path(rng: random.Random, pages: int, deep: dict[str, list[str]] | None = None) -> str:
    """One request of the long tail: search, category + ordering, price range, depth."""
    params: dict[str, str | int] = {}
    kind = rng.random()
    if kind < 0.35:  # a search, sometimes within a category or sorted
        params["search"] = search_terms(rng)
        if rng.random() < 0.3:
            params["category"] = rng.choice(CATEGORY_SLUGS)
        if rng.random() < 0.4:
            params["ordering"] = rng.choice(ORDERINGS)
    elif kind < 0.55:  # a category, sorted, one of its first pages
        params["category"] = rng.choice(CATEGORY_SLUGS)
        params["ordering"] = rng.choice(ORDERINGS)
        params["page"] = rng.randint(1, 5)
    elif kind < 0.70:  # a price range, sometimes sorted or within a category
        low = rng.uniform(0, 90)
        params["min_price"] = price(rng, low, low)
        params["max_price"] = price(rng, low + 1, low + 30)
        if rng.random() < 0.5:
            params["ordering"] = rng.choice(ORDERINGS)
        if rng.random() < 0.3:
            params["category"] = rng.choice(CATEGORY_SLUGS)
    elif kind < 0.85:  # anywhere in the whole list
        params["ordering"] = rng.choice(ORDERINGS)
        if deep:
            params["cursor"] = rng.choice(deep[str(params["ordering"])])
        else:
            params["page"] = rng.randint(1, pages)
    else:  # the pages a UI jumps to
        params["ordering"] = rng.choice(ORDERINGS)
        params["page"] = rng.randint(1, 50)
        params["page_size"] = rng.choice([10, 20, 50])
    return f"{LIST}?{urlencode(params)}"


def churn_paths(avoid: str, count: int) -> list[str]:
    """Searches whose words the churned product's name does not contain: each
    word alone, sorted every way, and within each category: the warm set of a
    busy catalog, large enough that rebuilding it after every stock flip shows."""
    name = avoid.lower()
    words = [word for word in WORDS if word not in name]
    combinations: list[dict[str, str]] = []
    for word in words:
        combinations.append({"search": word})
        combinations += [{"search": word, "ordering": ordering} for ordering in ORDERINGS]
        combinations += [{"search": word, "category": slug} for slug in CATEGORY_SLUGS]
    random.Random(0).shuffle(combinations)
    return [f"{LIST}?{urlencode(params)}" for params in combinations[:count]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    longtail = sub.add_parser("longtail")
    longtail.add_argument("--count", type=int, default=50_000)
    longtail.add_argument("--pages", type=int, required=True, help="pages of the default list (deepest page to ask for)")
    longtail.add_argument("--seed", type=int, default=1)
    churn = sub.add_parser("churn")
    churn.add_argument("--avoid", required=True, help="name of the product whose stock churns")
    churn.add_argument("--count", type=int, default=400)
    deep = sub.add_parser("deep")
    deep.add_argument("--offset", type=int, required=True, help="0-based position in the default list (20 a page)")
    args = parser.parse_args(argv)

    if args.command == "longtail":
        rng = random.Random(args.seed)
        positions = random_cursors(rng, 2000) if cursors else None
        paths = [longtail_path(rng, args.pages, positions) for _ in range(args.count)]
    elif args.command == "deep":
        if cursors:
            paths = [f"{LIST}?{urlencode({'cursor': cursors.cursor_at_offset(args.offset)})}"]
        else:
            paths = [f"{LIST}?page={args.offset // 20 + 1}"]
    else:
        paths = churn_paths(args.avoid, args.count)
    sys.stdout.write("\n".join(paths) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
