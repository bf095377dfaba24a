import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
# Requests: short lock and statement timeouts (opply/common/db/timeouts.py).
os.environ.setdefault("PROCESS_ROLE", "web")

application = get_wsgi_application()
