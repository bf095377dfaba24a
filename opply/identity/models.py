from __future__ import annotations

import logging
import unicodedata
import uuid

from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.db import models, transaction
from django.db.models.functions import Lower
from redis.exceptions import RedisError

from opply.identity.authentication import revoke_issued_tokens

logger = logging.getLogger(__name__)


def revoke_tokens_after_change(public_id: uuid.UUID) -> None:
    try:
        revoke_issued_tokens(public_id)
    except RedisError:
        # Refresh tokens are blacklisted in the database regardless; access
        # tokens then lapse on their own within ACCESS_TOKEN_LIFETIME.
        logger.error("Redis unreachable: access tokens of %s stay valid until they expire", public_id)


def normalize_username(username: str) -> str:
    """NFKC, as Django's forms do: the full-width form of ``opply`` becomes ``opply``
    (and is then taken, case-insensitively, if ``opply`` exists)."""
    return unicodedata.normalize("NFKC", username)


class OpplyUserManager(UserManager):
    def get_by_natural_key(self, username: str) -> User:
        # Logins (API and admin) match usernames as uniqueness does: NFKC,
        # case-insensitively, through the lower(username) unique index.
        return self.alias(username_lower=Lower("username")).get(username_lower=normalize_username(username).lower())


class User(AbstractUser):
    """A person who logs in: a customer, or staff (``is_staff``).

    Other modules refer to a user only by ``public_id``; the integer primary key
    never leaves this schema or the server.
    """

    # Usernames are what staff and customers recognise each other by, so
    # only unambiguous ones: ASCII letters, digits and @ . + - _ (Django's
    # ASCII username validator), after NFKC normalisation. That one allow-list
    # refuses invisible characters (zero-width, bidi overrides), spaces and
    # tabs, markup, and every look-alike from another script, on every path
    # that sets a username (register, staff API, admin, createsuperuser).
    username_validator = ASCIIUsernameValidator()
    username = models.CharField(
        "username",
        max_length=150,
        unique=True,
        help_text="Required. 150 characters or fewer: ASCII letters, digits and @ . + - _ only.",
        validators=[username_validator],
        error_messages={"unique": "A user with that username already exists."},
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField("email address")
    company_name = models.CharField(max_length=255, blank=True)

    objects = OpplyUserManager()

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
        opply.identity.authentication) are refused from Redis after commit."""
        from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

        with transaction.atomic():
            outstanding = OutstandingToken.objects.filter(user=self, blacklistedtoken__isnull=True)
            BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True)
        public_id = self.public_id
        transaction.on_commit(lambda: revoke_tokens_after_change(public_id))
