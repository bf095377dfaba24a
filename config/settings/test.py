"""Test run: real PostgreSQL and Redis, on their own database and Redis db."""

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, env

ENVIRONMENT = "test"

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="test-insecure-key-only-for-the-test-suite")
DEBUG = False

# The suite flushes this Redis database between tests: keep it apart from the
# one a developer's running server uses.
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Generous throttles so that only the tests about throttling meet them; those
# tests set their own rates.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    "anon": "100000/min",
    "user": "100000/min",
    "login_ip": "100000/min",
}
REPLICA_PIN_SECONDS = 5
