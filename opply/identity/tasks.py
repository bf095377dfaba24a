"""Housekeeping of the identity module (Celery beat, see settings)."""

from __future__ import annotations

from celery import shared_task
from django.core.management import call_command


@shared_task(ignore_result=True)
def flush_expired_tokens() -> None:
    """Delete refresh tokens (outstanding and blacklisted) past their expiry:
    every login and every refresh adds a row, and an expired token can
    neither be used nor revoked, so nothing needs them (simplejwt's command)."""
    call_command("flushexpiredtokens")


@shared_task(ignore_result=True)
def clear_expired_sessions() -> None:
    """Delete expired admin sessions (Django's ``clearsessions``)."""
    call_command("clearsessions")
