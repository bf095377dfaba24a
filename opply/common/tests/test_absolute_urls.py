"""The remembered absolute URL is Django's, for whatever the request says."""

import pytest
from django.core.exceptions import DisallowedHost
from django.test import RequestFactory

from opply.common.absolute_urls import _URLS, absolute_url

REQUESTS = [
    ("/api/catalog/products/", "", {}),
    ("/api/catalog/products/", "search=oat&ordering=-price", {}),
    ("/api/catalog/products/", "search=caf%C3%A9&x=%20y", {}),
    ("/api/catalog/products/", "", {"HTTP_X_FORWARDED_PROTO": "https"}),
    ("/api/catalog/products/", "", {"HTTP_X_FORWARDED_PROTO": "http"}),
    ("/api/catalog/products/", "", {"HTTP_HOST": "api.example.com"}),
    ("/api/catalog/products/", "", {"HTTP_HOST": "api.example.com:8443"}),
    ("/api/catalog/products/", "", {"HTTP_HOST": "api.example.com", "HTTP_X_FORWARDED_PROTO": "https"}),
    ("/api/catalog/prödukte/", "", {}),
    ("/api/catalog/products/", "", {"SCRIPT_NAME": "/shop"}),
]


@pytest.fixture
def configured(settings):
    settings.ALLOWED_HOSTS = ["testserver", "api.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize("path, query, environment", REQUESTS)
def test_the_same_url_as_django_builds_asked_once_or_again(configured, path, query, environment):
    def request():
        return RequestFactory().get(path, QUERY_STRING=query, **environment)

    expected = request().build_absolute_uri()

    assert [absolute_url(request()) for _ in range(2)] == [expected, expected]


def test_requests_that_differ_in_any_part_never_share_a_remembered_url(configured):
    """All of them remembered side by side, then asked again, in both orders."""
    requests = [(path, query, environment) for path, query, environment in REQUESTS]
    for order in (requests, requests[::-1]):
        for path, query, environment in order:
            request = RequestFactory().get(path, QUERY_STRING=query, **environment)
            assert absolute_url(request) == request.build_absolute_uri()


def test_a_refused_host_is_refused_every_time_and_never_remembered(configured):
    remembered = len(_URLS)

    for _ in range(2):
        with pytest.raises(DisallowedHost):
            absolute_url(RequestFactory().get("/api/catalog/products/", HTTP_HOST="evil.example.net"))

    assert len(_URLS) == remembered
