from decimal import Decimal
from django.db import migrations, models

from opply.common.db.constraints import check_constraint


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0002_stock_version'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='product',
            constraint=check_constraint(models.Q(('price__lte', Decimal('1000000.00'))), name='product_price_at_most_max'),
        ),
        migrations.AddConstraint(
            model_name='stock',
            constraint=check_constraint(models.Q(('on_hand__lte', 1000000000)), name='stock_on_hand_at_most_max'),
        ),
        migrations.AddConstraint(
            model_name='stockmovement',
            constraint=check_constraint(models.Q(('delta__gte', -1000000000), ('delta__lte', 1000000000)), name='stock_movement_delta_bounded'),
        ),
    ]
