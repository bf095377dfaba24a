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
            and not self._format_override(request)
        ):
            return renderers[0], JSON
        return super().select_renderer(request, renderers, format_suffix)

    def _format_override(self, request: Request) -> str | None:
        """``?format=``, read without parsing a query string that cannot hold
        it: parsing one is most of the short cut's cost, and on a cached page
        nothing else reads the query (a name can hide in percent escapes:
        such a query is parsed)."""
        name = self.settings.URL_FORMAT_OVERRIDE
        raw = request.META.get("QUERY_STRING", "")
        if not name or not raw or (name not in raw and "%" not in raw):
            return None
        return request.query_params.get(name)
