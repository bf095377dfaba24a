"""OpenAPI glue: strict request bodies and problem responses.

* (identity's own extensions, in ``opply/identity/schema.py``, teach it our
  authentication class and login serializer.)
* ``AutoSchema`` marks the request body of every :class:`StrictSerializer`
  ``additionalProperties: false``, as the serializer refuses unknown fields;
  a trimmed, non-blank string must hold a non-space character; a serializer
  with a cross-field rule can state its request schema itself
  (``openapi_request_schema``).
* ``add_problem_responses`` (a postprocessing hook) documents the errors every
  operation can answer, each as ``application/problem+json`` with the shared
  ``Problem`` component: 400 always (validation, parse, disallowed host),
  414 always (gunicorn's bound on the request line),
  401 and 403 where a caller must authenticate, 404 where the path names a
  resource or a page, 413 and 415 where a body is read, 429 everywhere
  (throttles). Responses a view documents itself (409, 422, 503...) get the
  same schema.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from rest_framework import serializers

from opply.common.errors import PROBLEM_CONTENT_TYPE


class AutoSchema(openapi.AutoSchema):
    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        from opply.common.serializers import StrictSerializer

        override = getattr(serializer, "openapi_request_schema", None)
        if direction == "request" and override is not None:
            # A rule across fields ("exactly one of delta and quantity") that
            # the generated schema cannot state.
            return override
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        return schema

    def _map_serializer_field(self, field: Any, direction: str, bypass_extensions: bool = False) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # DRF trims a CharField and then refuses it blank: say so, "  " is no name.
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and field.trim_whitespace
            and not field.allow_blank
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & schema.keys()
        ):
            schema["pattern"] = r"\S"
        return schema


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. Problem-specific members (`available`, `lines`, `limit`...) sit next to the standard ones.",
    "properties": {
        "type": {"type": "string", "example": "urn:opply:problem:validation_error"},
        "title": {"type": "string", "example": "Bad Request"},
        "status": {"type": "integer", "example": 400},
        "detail": {"type": "string", "example": "The request has invalid fields."},
        "code": {"type": "string", "description": "Stable, machine-readable.", "example": "validation_error"},
        "request_id": {"type": "string", "description": "The request's X-Request-ID."},
        "errors": {
            "type": "object",
            "description": "Field errors: field name -> messages (nested for nested fields).",
            "additionalProperties": True,
        },
        "retry_after": {"type": "integer", "description": "429: seconds to wait (also the Retry-After header)."},
    },
    "required": ["type", "title", "status", "detail", "code"],
    "additionalProperties": True,
}

_STANDARD = {
    "414": "The request line (path and query) is longer than the server accepts (gunicorn's limit_request_line).",
    "400": "Invalid input (`validation_error` with `errors` per field, `parse_error`, `disallowed_host`...); nothing was changed.",
    "401": "No valid credentials (`not_authenticated`, `token_not_valid`...).",
    "403": "Authenticated, but not allowed (a customer calling a staff operation).",
    "404": "No such resource here (or no such page).",
    "413": "The request body is larger than the API accepts.",
    "415": "The body is not `application/json`.",
    "429": "Throttled: retry after `Retry-After` seconds.",
}

_BODY_METHODS = {"post", "put", "patch"}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _codes_for(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    security = operation.get("security")
    authenticated = bool(security) and {} not in security
    parameters = operation.get("parameters", [])
    codes = ["400", "414", "429"]
    if authenticated:
        codes += ["401", "403"]
    if any(p["in"] == "path" for p in parameters) or any(p["in"] == "query" and p["name"] == "page" for p in parameters):
        codes.append("404")
    if method in _BODY_METHODS:
        codes += ["413", "415"]
    return codes


def add_problem_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _codes_for(path, method, operation):
                responses.setdefault(code, {"description": _STANDARD[code]})
            for code, response in responses.items():
                if code[0] in "45" and "content" not in response:
                    response["content"] = _problem_content()
    return result
