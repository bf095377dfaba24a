import pytest
from django.core.management import CommandError, call_command

from opply.identity.models import User

pytestmark = pytest.mark.django_db


def test_seed_creates_the_demo_staff_user_once(api_client):
    call_command("seed")
    call_command("seed")

    user = User.objects.get(username="opply")
    assert user.is_staff and user.is_superuser
    assert user.check_password("123456")
    assert User.objects.filter(username="opply").count() == 1


def test_seed_refuses_under_production_settings(settings):
    settings.ENVIRONMENT = "production"

    with pytest.raises(CommandError):
        call_command("seed")
    assert not User.objects.filter(username="opply").exists()
