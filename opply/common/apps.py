from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CommonConfig(AppConfig):
    name = "opply.common"
    label = "common"

    def ready(self) -> None:
        from opply.common import schema  # noqa: F401 - registers the OpenAPI extension


class OpplyAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with our site (login throttled like the API)."""

    default = False  # CommonConfig stays this module's default

    default_site = "opply.common.admin_site.AdminSite"
