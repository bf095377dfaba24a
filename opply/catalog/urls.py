from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from opply.catalog import apis
from opply.identity.apis import UUID_PATTERN

router = SimpleRouter()
router.register("categories", apis.CategoryViewSet, basename="category")

urlpatterns = [
    path("products/", apis.ProductListApi.as_view(), name="product-list"),
    re_path(rf"^products/(?P<id>{UUID_PATTERN})/$", apis.ProductDetailApi.as_view(), name="product-detail"),
    re_path(rf"^products/(?P<id>{UUID_PATTERN})/stock/$", apis.ProductStockApi.as_view(), name="product-stock"),
    *router.urls,
]
