"""Writes of the identity module. Every function runs on the primary."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from rest_framework_simplejwt.tokens import RefreshToken

from opply.common.errors import ApplicationError
from opply.common.services import model_update
from opply.identity.models import User

PROFILE_FIELDS = ("email", "first_name", "last_name", "company_name")


class AccountConflict(ApplicationError):
    default_code = "validation_error"


def customer_create(
    *,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    company_name: str = "",
) -> User:
    """Create a customer account. The password must already be validated."""
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        company_name=company_name,
    )
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Two registrations racing for one username/email: the unique
        # constraints decide; the loser gets the same 400 as a plain duplicate.
        raise AccountConflict(
            "That username or email is already registered.",
            errors={"username": ["A user with that username or email already exists."]},
        ) from None
    return user


def customer_update(*, customer: User, data: dict[str, Any]) -> User:
    """Apply profile changes (and, for staff callers, ``is_active``/``username``)."""
    return model_update(
        instance=customer,
        data=data,
        on_integrity_error=lambda: AccountConflict(
            "That username or email is already registered.",
            errors={"email": ["A user with that username or email already exists."]},
        ),
    )


def customer_deactivate(*, customer: User) -> None:
    """Deactivate instead of deleting: orders keep their customer, and every
    session ends at once (see ``User._end_sessions``)."""
    with transaction.atomic():
        customer.is_active = False
        customer.save(update_fields=["is_active"])


def token_revoke(*, refresh: RefreshToken) -> None:
    """Log out: this refresh token stops working."""
    refresh.blacklist()
