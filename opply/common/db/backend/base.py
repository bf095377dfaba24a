"""Django's PostgreSQL backend, aware of the per-app schemas.

Tables in the ``identity``, ``catalog`` and ``orders`` schemas are named
``'<schema>"."<table>'`` in their models. Django's introspection only lists the
tables on the search path, so ``flush`` (used between transactional tests)
would not see them. This backend adds them, schema-qualified, to the table
list. Every statement is also timed for the metrics
(``opply_db_query_duration_seconds`` by database role).
"""

from time import perf_counter
from typing import Any

from django.db.backends.postgresql import base, introspection

from opply.common.observability import metrics

APP_SCHEMAS = ["identity", "catalog", "orders"]


class DatabaseIntrospection(introspection.DatabaseIntrospection):
    def get_table_list(self, cursor):  # type: ignore[no-untyped-def]
        tables = super().get_table_list(cursor)
        cursor.execute(
            """
            SELECT n.nspname || '"."' || c.relname,
                   CASE WHEN c.relkind IN ('m', 'v') THEN 'v' ELSE 't' END,
                   obj_description(c.oid, 'pg_class')
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('m', 'p', 'r', 'v') AND n.nspname = ANY(%s)
            """,
            [APP_SCHEMAS],
        )
        return tables + [introspection.TableInfo(*row) for row in cursor.fetchall()]


def _timed(execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    start = perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        metrics.observe_query(context["connection"].alias, perf_counter() - start)


class DatabaseWrapper(base.DatabaseWrapper):
    introspection_class = DatabaseIntrospection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # First in the list and never popped: ``connection.execute_wrapper()``
        # blocks push and pop after it. Django runs execute wrappers around
        # every statement of every cursor, ORM or raw.
        if metrics.TIMERS_ENABLED:
            self.execute_wrappers.append(_timed)
