import pytest

from opply.common.redis import reset_redis_client


@pytest.fixture
def redis_down(settings):
    """The availability store's Redis is unreachable (the cache is left alone)."""
    reset_redis_client()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    yield
    reset_redis_client()
