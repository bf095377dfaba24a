"""A URLconf for the error-reporting and tracing tests (run in a child process)."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from opply.common.redis import get_redis

logger = logging.getLogger("opply.test.observability")


def work(request):
    """Touches PostgreSQL and Redis, and logs, as a real request does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    get_redis().ping()
    logger.warning("probe work done")
    return JsonResponse({"ok": True})


@csrf_exempt  # a JSON API call, as the app's own views are (DRF)
def crash(request):
    raise RuntimeError("boom: the token was Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")


urlpatterns = [
    path("probe/work/", work),
    path("probe/crash/", crash),
    path("", include("config.urls")),
]
