"""Local demo data for the identity module."""

from __future__ import annotations

from opply.identity.models import User

DEMO_STAFF_USERNAME = "opply"
DEMO_STAFF_PASSWORD = "123456"  # noqa: S105 - a documented local-only demo account


def seed_demo_staff() -> tuple[User, bool]:
    """The staff user ``opply`` / ``123456`` (idempotent: an existing one is left alone)."""
    user, created = User.objects.get_or_create(
        username=DEMO_STAFF_USERNAME,
        defaults={"email": "opply@example.com", "is_staff": True, "is_superuser": True},
    )
    if created:
        user.set_password(DEMO_STAFF_PASSWORD)
        user.save(update_fields=["password"])
    return user, created
