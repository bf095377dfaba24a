from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "opply.catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def seed_demo(self) -> str:
        """The demo catalog (``manage.py seed``)."""
        from opply.catalog.seed import seed_demo_catalog

        return f"demo catalog: {seed_demo_catalog()} product(s) created"
