from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "opply.identity"
    label = "identity"
    verbose_name = "Identity"
