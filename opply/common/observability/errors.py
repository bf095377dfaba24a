"""Error reporting with Sentry: on only when ``SENTRY_DSN`` is set.

Without the DSN nothing of Sentry's is imported, let alone initialised. With
it, unhandled errors of requests (Django) and tasks (Celery), and ERROR log
records, are reported with:

* the request id (tag ``request_id``, the ``X-Request-ID`` every response
  and log line carries) and the release (``SENTRY_RELEASE``, else the image's
  ``OPPLY_RELEASE``), and the environment;
* no personal data: ``send_default_pii`` off (no cookies, user, IP address),
  no request bodies (registration and login bodies hold names, e-mail
  addresses and passwords), no local variables of stack frames, no command
  line (``sys.argv``), and a last
  pass (:func:`scrub`) that blanks every value whose key names a credential
  (Authorization, cookies, passwords, tokens, secrets, keys) and any bearer
  token written inside a string, wherever it sits in the event.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

FILTERED = "[Filtered]"
_SENSITIVE_KEY = re.compile(
    r"authorization|cookie|passw|secret|token|refresh|access|api[-_]?key|session|csrf|signature|credential|dsn", re.IGNORECASE
)
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _scrub_string(value: str) -> str:
    return _JWT.sub(FILTERED, _BEARER.sub(lambda m: m.group(1) + FILTERED, value))


def scrub(value: Any) -> Any:
    """Blank credentials anywhere in an event (dicts, lists, header pairs, strings)."""
    if isinstance(value, dict):
        return {key: FILTERED if isinstance(key, str) and _SENSITIVE_KEY.search(key) else scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        # Headers may come as [name, value] pairs.
        if len(value) == 2 and isinstance(value[0], str) and _SENSITIVE_KEY.search(value[0]):
            return [value[0], FILTERED]
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return _scrub_string(value)
    return value


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    from django_guid import get_guid

    request_id = get_guid()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    # The SDK adds the process's command line, which may carry anything
    # (``manage.py shell -c ...``, a DSN, a password given as an argument).
    event.get("extra", {}).pop("sys.argv", None)
    return scrub(event)


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    return scrub(crumb)


def init_sentry() -> bool:
    """Initialise Sentry if ``SENTRY_DSN`` is set; True if it was."""
    if not settings.SENTRY_DSN:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=settings.SENTRY_DSN,
        release=settings.SENTRY_RELEASE or None,
        environment=settings.SENTRY_ENVIRONMENT or settings.ENVIRONMENT,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=settings.SENTRY_TRACES_SAMPLE_RATE,
        integrations=[DjangoIntegration(transaction_style="url"), CeleryIntegration()],
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
    )
    return True
