import time

from django.core.management.base import BaseCommand, CommandError

from opply.catalog.seed import seed_generated_catalog


class Command(BaseCommand):
    help = "Generate N realistic products (with stock and ledger rows) in bulk, for benchmarks and load tests."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--products", type=int, required=True, help="How many products to generate.")

    def handle(self, *args, products: int, **options) -> None:
        if products < 1 or products > 50_000_000:
            raise CommandError("--products must be between 1 and 50,000,000")
        started = time.monotonic()
        prefix = seed_generated_catalog(products)
        self.stdout.write(f"generated {products} products (SKU prefix {prefix}) in {time.monotonic() - started:.1f}s")
