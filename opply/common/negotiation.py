"""Content negotiation with a short cut for what nearly every client sends.

DRF parses the ``Accept`` header and walks its media types against the
renderers on every request: on a cached catalog page that was a few percent
of the request. A client that sends no ``Accept``, ``*/*`` or
``application/json`` (and no ``?format=``) gets the JSON renderer whenever
it comes first, which is what DRF's walk answers for those
(opply/common/tests/test_negotiation.py compares the two); anything else
is negotiated by DRF as before.
"""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

JSON = "application/json"
_PLAIN_ACCEPTS = frozenset({"*/*", JSON})


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None) -> Any:
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if (
            accept in _PLAIN_ACCEPTS
            and renderers
            and renderers[0].media_type == JSON
            and not format_suffix
            and not (self.settings.URL_FORMAT_OVERRIDE and request.query_params.get(self.settings.URL_FORMAT_OVERRIDE))
        ):
            return renderers[0], JSON
        return super().select_renderer(request, renderers, format_suffix)
