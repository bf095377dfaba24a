from decimal import Decimal

import factory

from opply.catalog import services
from opply.catalog.models import Category, Product


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


def make_product(
    *, quantity: int = 10, price: str | Decimal = "9.99", category: Category | None = None, name: str | None = None, sku: str | None = None
) -> Product:
    """A product created through the service, so stock and ledger are right."""
    n = next(_counter)
    return services.product_create(
        sku=sku or f"SKU-{n:06d}",
        name=name or f"Product {n}",
        price=Decimal(str(price)),
        category=category or CategoryFactory(),
        quantity_in_stock=quantity,
    )


def _count():
    n = 0
    while True:
        n += 1
        yield n


_counter = _count()
