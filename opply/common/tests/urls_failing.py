"""A URLconf with a view that crashes, to prove 500s are JSON too."""

import logging

from django.urls import include, path


def crash(request):
    logging.getLogger("opply.test").info("about to crash")
    raise RuntimeError("boom")


urlpatterns = [
    path("crash/", crash),
    path("", include("config.urls")),
]

handler404 = "opply.common.errors.not_found"
handler500 = "opply.common.errors.server_error"
