from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.contrib.staticfiles import apps as staticfiles_apps


class CommonConfig(AppConfig):
    name = "opply.common"
    label = "common"

    def ready(self) -> None:
        from opply.common.observability.setup import setup

        setup()


class OpplyAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with our site (login throttled like the API)."""

    default = False  # CommonConfig stays this module's default

    default_site = "opply.common.admin_site.AdminSite"


class OpplyStaticFilesConfig(staticfiles_apps.StaticFilesConfig):
    """Django's static files, without what nobody is served: drf-spectacular-
    sidecar ships ReDoc too (only Swagger UI is used, at /api/docs/), and
    collectstatic would otherwise copy it three times over (hashed, gzip,
    brotli), some 13 MB of the image."""

    default = False
    ignore_patterns = [*staticfiles_apps.StaticFilesConfig.ignore_patterns, "drf_spectacular_sidecar/redoc/*"]
