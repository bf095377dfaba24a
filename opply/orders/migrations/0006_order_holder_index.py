"""Asynchronous orders by the name of their hold (opply.orders.stray_holds).

Partial (synchronous orders have no hold name) and built concurrently on a
live orders table: the migration is not atomic.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0005_outbox"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(condition=~models.Q(holder=""), fields=["holder"], name="order_holder"),
        ),
    ]
