from django.core.management.base import BaseCommand, CommandError

from opply.catalog.selectors import stock_ledger_mismatches


class Command(BaseCommand):
    help = "Check that every product's on-hand stock equals the sum of its stock ledger. Exits 1 on any mismatch."

    def handle(self, *args, **options) -> None:
        mismatches = stock_ledger_mismatches()
        for sku, on_hand, ledger in mismatches:
            self.stdout.write(f"MISMATCH {sku}: on_hand={on_hand} ledger_sum={ledger}")
        if mismatches:
            raise CommandError(f"{len(mismatches)} product(s) disagree with their ledger")
        self.stdout.write("stock ledger OK: every on_hand equals the sum of its ledger")
