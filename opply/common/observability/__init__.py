"""Observability: Prometheus metrics, error reporting (Sentry) and tracing (OpenTelemetry).

``metrics`` is the one place every metric is defined, with the small API the
rest of the code calls. Error reporting and tracing are off unless their
settings are present, and then nothing of theirs is even imported
(``setup``). See docs/observability.md.
"""
