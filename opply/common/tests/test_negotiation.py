"""The negotiation's short cut answers exactly what DRF's own negotiation does."""

import pytest
from django.http import Http404
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from opply.common.negotiation import ContentNegotiation

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "",
    "text/html",
    "application/json; indent=4",
    "application/*",
    "*/*;q=0.8, text/html",
    "text/html, application/json",
    "application/xml",
]
RENDERER_SETS = [
    [JSONRenderer()],
    [JSONRenderer(), BrowsableAPIRenderer()],
    [BrowsableAPIRenderer(), JSONRenderer()],
    [OpenApiYamlRenderer(), OpenApiJsonRenderer()],
]


def negotiate(negotiation, accept, renderers, query):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    factory = APIRequestFactory()
    request = Request(factory.get(f"/?{query}", **headers) if isinstance(query, str) else factory.get("/", query, **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except NotAcceptable:
        return "406"
    except Http404:  # ?format= names no renderer of the view
        return "404"
    return type(renderer).__name__, media_type


# Raw query strings too: the short cut reads ?format= without parsing a query
# that cannot hold it, and a name spelled in percent escapes is still one.
QUERIES = [{}, {"format": "json"}, {"format": "api"}, "%66ormat=api", "%66ormat=json", "formats=api", "page=2&format=", "a=%20"]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("renderers", RENDERER_SETS, ids=lambda rs: "+".join(type(r).__name__ for r in rs))
@pytest.mark.parametrize("accept", ACCEPTS)
def test_the_short_cut_agrees_with_drf(accept, renderers, query):
    assert negotiate(ContentNegotiation(), accept, renderers, query) == negotiate(DefaultContentNegotiation(), accept, renderers, query)
