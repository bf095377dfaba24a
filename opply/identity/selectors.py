"""Reads of the identity module (served by the replica unless pinned)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.db.models import QuerySet

from opply.common.db.routing import PRIMARY
from opply.identity.models import User


def customer_list() -> QuerySet[User]:
    """Customers are the accounts that are not staff; staff are managed in the admin."""
    return User.objects.filter(is_staff=False, is_superuser=False).order_by("-date_joined", "-id")


def customer_get(public_id: UUID) -> User | None:
    return customer_list().filter(public_id=public_id).first()


def username_taken(username: str, *, exclude: User | None = None) -> bool:
    qs = User.objects.filter(username__iexact=username)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.exists()


def email_taken(email: str, *, exclude: User | None = None) -> bool:
    qs = User.objects.filter(email__iexact=email)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.exists()


def user_get(public_id: UUID) -> User | None:
    """The full account of an authenticated caller (requests carry only its
    claims), from the primary: an account registered or changed a moment ago
    must be found, whatever the replica's lag."""
    return User.objects.using(PRIMARY).filter(public_id=public_id, is_active=True).first()


def usernames(public_ids: Iterable[UUID]) -> dict[UUID, str]:
    """Usernames by public id, in one query (other modules name customers by their public id)."""
    ids = set(public_ids)
    if not ids:
        return {}
    return dict(User.objects.filter(public_id__in=ids).values_list("public_id", "username"))
