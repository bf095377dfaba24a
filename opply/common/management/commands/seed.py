from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Load local demo data: the staff user opply/123456 and a demo catalog. Idempotent."

    def handle(self, *args, **options) -> None:
        if settings.ENVIRONMENT == "production":
            raise CommandError("Refusing to seed demo data (and a known password) under production settings.")
        # Each app seeds its own data (its AppConfig's seed_demo), in
        # INSTALLED_APPS order: the staff user before the catalog.
        for config in apps.get_app_configs():
            seed_demo = getattr(config, "seed_demo", None)
            if seed_demo is not None:
                self.stdout.write(seed_demo())
