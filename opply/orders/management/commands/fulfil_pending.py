"""Apply every pending order now, in batches: the operator's re-drive after dead letters."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from opply.orders.fulfilment import apply_batch, pending_order_ids


class Command(BaseCommand):
    help = (
        "Confirm or reject every pending order now (the fulfilment worker's own path, in batches). "
        "Run it once the cause of dead-lettered orders is fixed; safe while workers run (SKIP LOCKED)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        confirmed = rejected = 0
        seen: set = set()
        while True:
            ids = [order_id for order_id in pending_order_ids(limit=options["batch_size"] + len(seen)) if order_id not in seen]
            ids = ids[: options["batch_size"]]
            if not ids:
                break
            seen.update(ids)  # one that another worker holds right now is not waited for
            result = apply_batch(ids)
            confirmed += len(result.confirmed)
            rejected += len(result.rejected)
        self.stdout.write(f"{confirmed} order(s) confirmed, {rejected} rejected; {len(pending_order_ids())} still pending")
