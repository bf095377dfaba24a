"""Developer machine: debug on, a throwaway secret, everything on localhost."""

from .base import *  # noqa: F403
from .base import env

ENVIRONMENT = "local"

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-insecure-key-never-use-in-production")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
# Serve static files straight from the apps, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
