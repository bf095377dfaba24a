"""Each app owns a PostgreSQL schema; its first migration creates it.

Models name their table ``'<schema>"."<table>'``, which Django quotes into
``"<schema>"."<table>"``. Foreign keys stay inside one schema; across schemas
rows refer to each other by public UUID.
"""

from django.db import migrations


def create_schema(name: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        sql=f'CREATE SCHEMA IF NOT EXISTS "{name}"',
        reverse_sql=f'DROP SCHEMA IF EXISTS "{name}" CASCADE',
    )
