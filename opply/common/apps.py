from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "opply.common"
    label = "common"

    def ready(self) -> None:
        from opply.common import schema  # noqa: F401 - registers the OpenAPI extension
