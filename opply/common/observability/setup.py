"""Start what the settings ask for (AppConfig.ready, before the first request or task).

Metrics need no start: they exist once imported. Error reporting and tracing
start only when configured; without their settings this imports nothing of
theirs.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def setup() -> None:
    from opply.common.observability.access import parse_networks

    try:
        parse_networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from None

    from opply.common.observability import worker

    worker.connect_task_signals()

    if settings.SENTRY_DSN:
        from opply.common.observability.errors import init_sentry

        init_sentry()

    from opply.common.observability.tracing import init_tracing

    init_tracing()
