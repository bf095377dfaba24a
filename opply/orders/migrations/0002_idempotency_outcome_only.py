from django.db import migrations, models


class Migration(migrations.Migration):
    """Idempotency records hold outcomes only; "in progress" moved to a Redis lock."""

    dependencies = [
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql="""DELETE FROM "orders"."idempotency_record" WHERE state <> 'done' OR response_status IS NULL""",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RemoveField(model_name="idempotencyrecord", name="state"),
        migrations.RemoveField(model_name="idempotencyrecord", name="locked_until"),
        migrations.AlterField(model_name="idempotencyrecord", name="response_status", field=models.PositiveSmallIntegerField()),
        migrations.AlterField(model_name="idempotencyrecord", name="response_body", field=models.JSONField()),
    ]
