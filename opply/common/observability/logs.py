"""Log records carry the trace id next to the request id.

The console handler's filters add ``correlation_id`` (the request id,
django-guid) and, here, ``trace_id`` and ``span_id`` of the current
OpenTelemetry span, so a log line leads to its trace and back. With tracing
off both are empty strings and OpenTelemetry is never imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

_current_span: Callable[[], Any] | None = None


def enable_trace_ids() -> None:
    """Called once tracing is set up (opply.common.observability.tracing)."""
    global _current_span
    from opentelemetry import trace

    _current_span = trace.get_current_span


class TraceContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = record.span_id = ""
        if _current_span is not None:
            context = _current_span().get_span_context()
            if context.is_valid:
                record.trace_id = format(context.trace_id, "032x")
                record.span_id = format(context.span_id, "016x")
        return True
