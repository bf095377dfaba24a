from __future__ import annotations

import logging
import uuid

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models, transaction
from django.db.models.functions import Lower
from redis.exceptions import RedisError

from opply.common.authentication import revoke_issued_tokens

logger = logging.getLogger(__name__)


def revoke_tokens_after_change(public_id: uuid.UUID) -> None:
    try:
        revoke_issued_tokens(public_id)
    except RedisError:
        # Refresh tokens are blacklisted in the database regardless; access
        # tokens then lapse on their own within ACCESS_TOKEN_LIFETIME.
        logger.error("Redis unreachable: access tokens of %s stay valid until they expire", public_id)


class User(AbstractUser):
    """A person who logs in: a customer, or staff (``is_staff``).

    Other modules refer to a user only by ``public_id``; the integer primary key
    never leaves this schema or the server.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField("email address")
    company_name = models.CharField(max_length=255, blank=True)

    objects = UserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        # Tables of this app live in the `identity` PostgreSQL schema.
        db_table = 'identity"."user'
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username

    # A change to any of these must end the sessions the account has open.
    SECURITY_FIELDS = ("is_active", "is_staff", "is_superuser", "password")

    def _security_state(self) -> tuple:  # type: ignore[type-arg]
        return tuple(getattr(self, name) for name in self.SECURITY_FIELDS)

    @classmethod
    def from_db(cls, db, field_names, values):  # type: ignore[no-untyped-def]
        instance = super().from_db(db, field_names, values)
        # Only for fully loaded rows: reading a deferred field here would cost
        # a query per field (a partial instance cannot detect the change).
        if all(name in field_names for name in cls.SECURITY_FIELDS):
            instance._loaded_security_state = instance._security_state()
        return instance

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        loaded = getattr(self, "_loaded_security_state", None)
        super().save(*args, **kwargs)
        if loaded is not None and loaded != self._security_state():
            self._end_sessions()
        self._loaded_security_state = self._security_state()

    def _end_sessions(self) -> None:
        """Deactivation, a new password or another staff status ends every
        session, whatever path made the change (API, admin, shell): refresh
        tokens are blacklisted here, in the caller's transaction, and access
        tokens (trusted without a database query, see
        opply.common.authentication) are refused from Redis after commit."""
        from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

        with transaction.atomic():
            outstanding = OutstandingToken.objects.filter(user=self, blacklistedtoken__isnull=True)
            BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True)
        public_id = self.public_id
        transaction.on_commit(lambda: revoke_tokens_after_change(public_id))
