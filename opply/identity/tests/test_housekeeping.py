"""Tables that grow with traffic are trimmed by a scheduled job."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from config.celery import app
from opply.identity.tasks import flush_expired_tokens

pytestmark = pytest.mark.django_db

HOUSEKEEPING_TASKS = {
    "opply.catalog.tasks.release_expired_holds",
    "opply.orders.tasks.delete_expired_idempotency_records",
    "opply.identity.tasks.flush_expired_tokens",
    "opply.identity.tasks.clear_expired_sessions",
}


def test_every_housekeeping_job_is_scheduled_and_exists():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    app.loader.import_default_modules()

    assert scheduled >= HOUSEKEEPING_TASKS
    assert scheduled <= set(app.tasks)


def test_expired_refresh_tokens_are_flushed_and_live_ones_kept(api_client, customer, password):
    for _ in range(3):
        assert (
            api_client.post("/api/identity/token/", {"username": customer.username, "password": password}, format="json").status_code == 200
        )
    expired, blacklisted_expired, live = OutstandingToken.objects.order_by("id")
    past = timezone.now() - timedelta(seconds=1)
    OutstandingToken.objects.filter(pk__in=[expired.pk, blacklisted_expired.pk]).update(expires_at=past)
    BlacklistedToken.objects.create(token=blacklisted_expired)

    flush_expired_tokens()

    assert list(OutstandingToken.objects.values_list("pk", flat=True)) == [live.pk]
    assert not BlacklistedToken.objects.exists()
