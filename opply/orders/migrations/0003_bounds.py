from decimal import Decimal
from django.db import migrations, models

from opply.common.db.constraints import check_constraint


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0002_idempotency_outcome_only'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='order',
            constraint=check_constraint(models.Q(('total__lte', Decimal('999999999999.99'))), name='order_total_at_most_max'),
        ),
        migrations.AddConstraint(
            model_name='orderline',
            constraint=check_constraint(models.Q(('quantity__lte', 10000)), name='order_line_quantity_at_most_max'),
        ),
    ]
