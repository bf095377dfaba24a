from __future__ import annotations

import re

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N&page_size=M``: 20 by default, capped at 100.

    Unlike DRF's default, a malformed ``page`` or ``page_size`` is a 400 naming
    the parameter instead of being silently ignored; a page past the end stays
    a 404.
    """

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_schema_operation_parameters(self, view):  # type: ignore[no-untyped-def]
        return page_parameters_schema()

    def get_page_size(self, request: Request) -> int:
        raw = single_query_value(request, self.page_size_query_param)
        if raw is None:
            return self.page_size
        return min(parse_positive_int(raw, self.page_size_query_param), self.max_page_size)

    def get_page_number(self, request: Request, paginator) -> int:  # type: ignore[no-untyped-def]
        # DRF's "page=last" is not offered: the schema says a page is a number.
        raw = single_query_value(request, self.page_query_param)
        return 1 if raw is None else parse_positive_int(raw, self.page_query_param)


def single_query_value(request: Request, name: str) -> str | None:
    """A query parameter given at most once: ``?page=1&page=2`` is a 400, not
    whichever value a framework happens to keep."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ValidationError({name: ["Give this parameter once."]})
    return values[0] if values else None


# Plain ASCII digits, at most nine of them: int() would also take "1_0",
# " 2", "+2" and non-ASCII digits, and a page number needs no more than nine digits.
_DIGITS = re.compile(r"[0-9]{1,9}")


def parse_positive_int(raw: str, name: str) -> int:
    if not isinstance(raw, str) or not _DIGITS.fullmatch(raw) or int(raw) < 1:
        raise ValidationError({name: ["A positive whole number (1 to 999999999, plain digits) is required."]})
    return int(raw)


MAX_PAGE_NUMBER = 999_999_999


def page_parameters_schema() -> list[dict]:  # type: ignore[type-arg]
    """``page`` and ``page_size`` as OpenAPI parameters, with their bounds."""
    return [
        {
            "name": "page",
            "in": "query",
            "required": False,
            "description": "1-based page number; past the end is a 404.",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER},
        },
        {
            "name": "page_size",
            "in": "query",
            "required": False,
            "description": "Items per page: default 20; larger values are capped at 100.",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER},
        },
    ]
