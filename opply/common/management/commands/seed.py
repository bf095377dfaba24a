from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from opply.catalog.seed import seed_demo_catalog
from opply.identity.seed import seed_demo_staff


class Command(BaseCommand):
    help = "Load local demo data: the staff user opply/123456 and a demo catalog. Idempotent."

    def handle(self, *args, **options) -> None:
        if settings.ENVIRONMENT == "production":
            raise CommandError("Refusing to seed demo data (and a known password) under production settings.")
        _, created = seed_demo_staff()
        self.stdout.write(f"staff user opply: {'created' if created else 'already there'}")
        created_products = seed_demo_catalog()
        self.stdout.write(f"demo catalog: {created_products} product(s) created")
