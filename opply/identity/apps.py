from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "opply.identity"
    label = "identity"
    verbose_name = "Identity"

    def seed_demo(self) -> str:
        """The demo staff user (``manage.py seed``)."""
        from opply.identity.seed import seed_demo_staff

        _, created = seed_demo_staff()
        return f"staff user opply: {'created' if created else 'already there'}"

    def ready(self) -> None:
        from opply.identity import schema  # noqa: F401 - registers the OpenAPI extensions
