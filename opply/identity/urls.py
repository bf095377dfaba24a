from django.urls import path
from rest_framework.routers import SimpleRouter

from opply.identity import apis

router = SimpleRouter(use_regex_path=False)
router.register("customers", apis.CustomerViewSet, basename="customer")

urlpatterns = [
    path("register/", apis.RegisterApi.as_view(), name="register"),
    path("token/", apis.TokenObtainApi.as_view(), name="token"),
    path("token/refresh/", apis.TokenRefreshApi.as_view(), name="token-refresh"),
    path("token/revoke/", apis.TokenRevokeApi.as_view(), name="token-revoke"),
    *router.urls,
]
