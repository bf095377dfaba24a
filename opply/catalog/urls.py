from django.urls import path
from rest_framework.routers import SimpleRouter

from opply.catalog import apis

router = SimpleRouter(use_regex_path=False)
router.register("categories", apis.CategoryViewSet, basename="category")

urlpatterns = [
    path("products/", apis.ProductListApi.as_view(), name="product-list"),
    path("products/<uuid:id>/", apis.ProductDetailApi.as_view(), name="product-detail"),
    path("products/<uuid:id>/stock/", apis.ProductStockApi.as_view(), name="product-stock"),
    *router.urls,
]
