"""The demo stack (``make run-docker``, compose.yaml): production, over plain HTTP.

Everything that makes production production is kept: no default secret key,
DEBUG off, ALLOWED_HOSTS required, JSON logs, hashed static files. Two things
differ, and only because this stack is reached at http://localhost:

* TLS: no HTTPS redirect, no HSTS (a browser that saw HSTS from localhost
  would refuse every other http://localhost site for a year), and cookies
  that are sent over HTTP, so that the admin login works.
* Demo data: ``manage.py seed`` (the staff user opply/123456) refuses to run
  under ``production`` only; this environment is called ``demo``.

Never expose it to the internet: ``check --deploy`` warns about exactly the
TLS settings above. Real deployments use ``config.settings.production``.
"""

from .production import *  # noqa: F403
from .production import env

ENVIRONMENT = "demo"

SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
