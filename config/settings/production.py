"""Production: no default secret, DEBUG off, HTTPS only, JSON logs.

Passes ``manage.py check --deploy`` (tests/test_settings.py proves it).
"""

from config.ecs import task_private_ips

from .base import *  # noqa: F403
from .base import LOGGING, STORAGES, env

ENVIRONMENT = "production"

SECRET_KEY = env.str("DJANGO_SECRET_KEY")  # no default: refuse to start without one
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
# On ECS, the load balancer health-checks each task by its private IP (config/ecs.py).
ALLOWED_HOSTS += task_private_ips()

# TLS usually ends at the load balancer / nginx, which forwards the scheme.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Off only when TLS ends at a proxy that does not forward the scheme (the
# redirect would loop); the proxy must then do the redirect itself.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"

LOGGING["handlers"]["console"]["formatter"] = env.str("DJANGO_LOG_FORMAT", default="json")

# collectstatic runs at build time (Dockerfile, `make serve`); hashed names can be cached forever.
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
