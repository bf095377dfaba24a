"""The router's decisions: reads to the replica, writes and their reads to the primary."""

import pytest
from django.db import transaction

from opply.common.db import routing
from opply.common.db.routing import PrimaryReplicaRouter
from opply.identity.models import User
from opply.identity.testing import bearer_client


@pytest.fixture
def router():
    token = routing._pinned_to_primary.set(False)
    yield PrimaryReplicaRouter()
    routing._pinned_to_primary.reset(token)


def test_reads_go_to_the_replica_and_writes_to_the_primary(router):
    assert router.db_for_read(User) == "replica"
    assert router.db_for_write(User) == "default"


def test_after_a_write_reads_go_to_the_primary(router):
    router.db_for_write(User)

    assert router.db_for_read(User) == "default"


@pytest.mark.django_db(transaction=True)
def test_reads_inside_a_primary_transaction_go_to_the_primary(router):
    with transaction.atomic():
        assert router.db_for_read(User) == "default"
    assert router.db_for_read(User) == "replica"


def test_queries_follow_the_router(router):
    assert User.objects.all().db == "replica"
    assert User.objects.select_for_update().db == "default"


def test_migrations_only_run_on_the_primary(router):
    assert router.allow_migrate("default", "identity")
    assert not router.allow_migrate("replica", "identity")


@pytest.mark.django_db
def test_a_customer_who_just_wrote_reads_from_the_primary_on_the_next_request(customer, router, monkeypatch):
    from opply.identity import authentication

    pins: list[str] = []
    monkeypatch.setattr(authentication, "pin_to_primary", lambda: pins.append("pinned"))
    client = bearer_client(customer)

    client.get("/api/identity/customers/me/")
    assert pins == [], "a customer who has not written reads from the replica"

    assert client.patch("/api/identity/customers/me/", {"company_name": "New"}, format="json").status_code == 200
    assert routing.is_recent_writer(str(customer.public_id))

    client.get("/api/identity/customers/me/")
    assert pins == ["pinned"], "right after writing, the customer's reads are pinned to the primary"


@pytest.mark.django_db
def test_the_pin_expires(customer, settings):
    settings.REPLICA_PIN_SECONDS = 1
    routing.remember_recent_writer(str(customer.public_id))
    assert routing.is_recent_writer(str(customer.public_id))

    import time

    time.sleep(1.2)
    assert not routing.is_recent_writer(str(customer.public_id))


@pytest.mark.django_db
def test_each_app_lives_in_its_own_schema():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'user' AND table_schema = 'identity'")
        assert cursor.fetchall() == [("identity",)]
