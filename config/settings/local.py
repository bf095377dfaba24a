"""Developer machine: a throwaway secret, everything on localhost."""

from .base import *  # noqa: F403
from .base import env

ENVIRONMENT = "local"

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-insecure-key-never-use-in-production")
# Off by default even here: the API answers JSON problem details for every
# error (Django's debug pages are HTML) and logs tracebacks to the console.
# DJANGO_DEBUG=true brings the debug pages back when they help.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Serve static files straight from the apps, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
