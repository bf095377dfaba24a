from django.core.management.base import BaseCommand

from opply.orders.idempotency import delete_expired


class Command(BaseCommand):
    help = "Delete idempotency records older than 24 hours (also run every hour by Celery beat)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"deleted {delete_expired()} expired idempotency record(s)")
