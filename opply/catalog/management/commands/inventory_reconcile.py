from django.core.management.base import BaseCommand, CommandError

from opply.catalog.reconcile import find_drift, repair


class Command(BaseCommand):
    help = (
        "Report drift between the availability store (Redis), PostgreSQL and the products' in_stock flags; "
        "--fix repairs it. Exits 1 on unrepaired drift."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--fix", action="store_true", help="Repair the drift found (safe while the service runs).")

    def handle(self, *args, fix: bool, **options) -> None:
        drift = find_drift()
        for d in drift:
            self.stdout.write(f"DRIFT product {d.product_id} {d.field}: found={d.found} expected={d.expected}")
        if not drift:
            self.stdout.write("availability store OK: no drift")
            return
        if not fix:
            raise CommandError(f"{len(drift)} drifting value(s); run with --fix to repair")
        repair(drift)
        self.stdout.write(f"repaired {len(drift)} drifting value(s)")
