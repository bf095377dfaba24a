import time

from django.core.management.base import BaseCommand, CommandError

from opply.catalog.query_plans import explain_lists


class Command(BaseCommand):
    help = (
        "Explain every documented product-list query (filters x orderings x first page, page 100 and a deep cursor, "
        "customer and staff) and fail if any reads the product table sequentially."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--search", action="append", default=[], help="search words to try (default: smoked, oat, honey 1kg)")

    def handle(self, *args, search: list[str], **options) -> None:
        started = time.monotonic()
        explained, findings = explain_lists(search or ["smoked", "oat", "honey 1kg"])
        for finding in findings:
            self.stdout.write(f"SEQ SCAN: staff={finding.is_staff} {finding.params}\n  {finding.sql}")
        self.stdout.write(f"{explained} statements explained in {time.monotonic() - started:.1f}s, {len(findings)} with a sequential scan")
        if findings:
            raise CommandError("sequential scans of the product table")
