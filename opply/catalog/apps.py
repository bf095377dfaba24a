from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "opply.catalog"
    label = "catalog"
    verbose_name = "Catalog"
