from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from opply.common import health
from opply.common.api_root import ApiRootApi

urlpatterns = [
    path("health/live/", health.live, name="health-live"),
    path("health/ready/", health.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("api/", ApiRootApi.as_view(), name="api-root"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/identity/", include(("opply.identity.urls", "identity"))),
    path("api/catalog/", include(("opply.catalog.urls", "catalog"))),
    path("api/orders/", include(("opply.orders.urls", "orders"))),
]

handler400 = "opply.common.errors.bad_request"
handler403 = "opply.common.errors.permission_denied"
handler404 = "opply.common.errors.not_found"
handler500 = "opply.common.errors.server_error"
