"""Settings shared by every environment.

Everything that differs between machines comes from the environment (12-factor).
A `.env` file in the project root is read for convenience, but real environment
variables always win over it (django-environ's ``overwrite=False``).
"""

import math
from datetime import timedelta
from pathlib import Path

import environ

from opply.common.db.timeouts import postgres_options

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------

# "local", "test" or "production": set by each settings module.
ENVIRONMENT = "base"

# Each environment decides whether a default is acceptable (production: never).
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    # Django's admin, with its login behind the API's login throttles.
    "opply.common.apps.OpplyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Django's static files, minus ReDoc's bundle (only Swagger UI is served).
    "opply.common.apps.OpplyStaticFilesConfig",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_guid",
    "opply.common",
    "opply.identity",
    "opply.catalog",
    "opply.orders",
]

MIDDLEWARE = [
    "opply.common.middleware.RequestIdFilterMiddleware",
    "django_guid.middleware.guid_middleware",
    "opply.common.middleware.NoStoreMiddleware",
    # Times and counts every request, and answers /metrics (opply/common/observability/http.py).
    "opply.common.observability.http.RequestMetricsMiddleware",
    "opply.common.db.routing.ReplicaPinningMiddleware",
    "opply.common.errors.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "opply.common.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "identity.User"
CSRF_FAILURE_VIEW = "opply.common.errors.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# gunicorn serves the admin's and the docs' static files itself (WhiteNoise).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Databases: a primary and a read replica ---------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/opply"),
}
DATABASES["replica"] = env.db("DATABASE_REPLICA_URL", default=env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/opply"))
# How long a query may wait on a lock or run, per kind of process (ms, 0: no
# limit); see opply/common/db/timeouts.py. manage.py says "maintenance",
# config/wsgi.py "web", the Celery worker "worker"; anything else gets "web".
PROCESS_ROLE = env.str("PROCESS_ROLE", default="web")
DATABASE_TIMEOUTS = {
    "web": {
        "lock_timeout_ms": env.int("DATABASE_LOCK_TIMEOUT_MS", default=2000),
        "statement_timeout_ms": env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=5000),
    },
    "worker": {
        "lock_timeout_ms": env.int("WORKER_DATABASE_LOCK_TIMEOUT_MS", default=10000),
        "statement_timeout_ms": env.int("WORKER_DATABASE_STATEMENT_TIMEOUT_MS", default=120000),
    },
    "maintenance": {
        "lock_timeout_ms": env.int("MAINTENANCE_DATABASE_LOCK_TIMEOUT_MS", default=10000),
        "statement_timeout_ms": env.int("MAINTENANCE_DATABASE_STATEMENT_TIMEOUT_MS", default=0),
    },
}
if PROCESS_ROLE not in DATABASE_TIMEOUTS:
    raise environ.ImproperlyConfigured(f"PROCESS_ROLE must be one of {sorted(DATABASE_TIMEOUTS)}, not {PROCESS_ROLE!r}")

for _alias in ("default", "replica"):
    # PostgreSQL with per-app schemas (see opply/common/db/backend).
    DATABASES[_alias]["ENGINE"] = "opply.common.db.backend"
    DATABASES[_alias]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES[_alias]["CONN_HEALTH_CHECKS"] = True
    DATABASES[_alias].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=3)
    DATABASES[_alias]["OPTIONS"]["options"] = postgres_options(**DATABASE_TIMEOUTS[PROCESS_ROLE])
DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
# A replica of its own, or the primary under a second name (no replica set up)?
DATABASE_REPLICA_CONFIGURED = env.str("DATABASE_REPLICA_URL", default="") not in ("", env.str("DATABASE_URL", default=""))
# A replica that does not answer should cost little: see opply/common/db/replica.py.
DATABASES["replica"]["OPTIONS"]["connect_timeout"] = env.int("DATABASE_REPLICA_CONNECT_TIMEOUT", default=2)

DATABASE_ROUTERS = ["opply.common.db.routing.PrimaryReplicaRouter"]
# How long a customer who just wrote keeps reading from the primary, so that
# replica lag never hides their own writes (read-your-writes).
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=5)
# Past this lag the replica counts as degraded: readiness says so and reads go
# to the primary until it catches up.
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=10.0)
# How often each process measures the lag (two tiny queries).
REPLICA_LAG_CHECK_SECONDS = env.float("REPLICA_LAG_CHECK_SECONDS", default=5.0)
# After the replica failed (or lagged), reads stay on the primary this long
# before one request tries it again (circuit breaker).
REPLICA_RETRY_SECONDS = env.float("REPLICA_RETRY_SECONDS", default=10.0)

# --- Redis: three roles kept apart ---------------------------------------------
# * the product-page cache (may fail quietly: the database answers instead),
# * the availability store and carts (must not fail quietly: see opply.common.redis),
# * the broker (Celery, CELERY_BROKER_URL).

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.5)

# Django's cache framework is not used: the page cache (opply.catalog.cache)
# and the throttles (opply.common.throttling) speak to Redis themselves, so
# CACHES keeps Django's per-process default.

# --- Celery ---------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# Publisher confirms: a message counts as sent once the broker has it (the
# outbox marks an event sent only then).
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="opply")
CELERY_BEAT_SCHEDULE = {
    "release-expired-holds": {
        "task": "opply.catalog.tasks.release_expired_holds",
        "schedule": env.float("CART_SWEEP_SECONDS", default=10.0),
        "options": {"expires": 30},
    },
    "resync-availability": {
        "task": "opply.catalog.tasks.resync_availability",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    # Housekeeping: every table that grows with traffic has a job that trims
    # it (README "Storage over time").
    "check-availability-drift": {
        "task": "opply.catalog.tasks.check_availability_drift",
        "schedule": env.float("INVENTORY_DRIFT_CHECK_SECONDS", default=900.0),
        "options": {"expires": 600},
    },
    "settle-stray-order-holds": {
        "task": "opply.orders.tasks.settle_stray_order_holds",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "relay-outbox": {
        "task": "opply.orders.tasks.relay_outbox",
        "schedule": env.float("OUTBOX_RELAY_SECONDS", default=5.0),
        "options": {"expires": 30},
    },
    "delete-sent-outbox": {
        "task": "opply.orders.tasks.delete_sent_outbox",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
    "delete-expired-idempotency-records": {
        "task": "opply.orders.tasks.delete_expired_idempotency_records",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
    "flush-expired-tokens": {
        "task": "opply.identity.tasks.flush_expired_tokens",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
    "clear-expired-sessions": {
        "task": "opply.identity.tasks.clear_expired_sessions",
        "schedule": 86400.0,
        "options": {"expires": 3600},
    },
}

# --- Business settings ------------------------------------------------------------

CART_TTL_SECONDS = env.int("CART_TTL_SECONDS", default=900)
# However often a cart changes, its reservations lapse this long after its
# first one (anti-hoarding: no hold lasts for ever). Check out, or add again.
CART_MAX_LIFETIME_SECONDS = env.int("CART_MAX_LIFETIME_SECONDS", default=3600)
# Anti-hoarding (OWASP API6): how much one customer's cart may hold.
CART_MAX_UNITS_PER_PRODUCT = env.int("CART_MAX_UNITS_PER_PRODUCT", default=100)
CART_MAX_LINES = env.int("CART_MAX_LINES", default=50)
# How long a request may hold its Idempotency-Key before a retry may take it
# over (sooner when its process is known to be dead): what a request can take
# with the request database timeouts above, and a margin.
IDEMPOTENCY_LEASE_SECONDS = env.int(
    "IDEMPOTENCY_LEASE_SECONDS", default=max(5, 2 * math.ceil(DATABASE_TIMEOUTS["web"]["statement_timeout_ms"] / 1000))
)
# How often the sweeper gives back the stock of expired carts.
CART_SWEEP_SECONDS = env.float("CART_SWEEP_SECONDS", default=10.0)
# "sync": an order is confirmed (201) or refused (409) within the request.
# "async": the availability store accepts it (202, pending) and the fulfilment
# consumer in the worker confirms or rejects it (README "Order fulfilment").
ORDER_FULFILMENT = env.str("ORDER_FULFILMENT", default="sync")
if ORDER_FULFILMENT not in ("sync", "async"):
    raise environ.ImproperlyConfigured(f"ORDER_FULFILMENT must be 'sync' or 'async', not {ORDER_FULFILMENT!r}")
# Order events (opply/orders/events.py): the topic exchange other services
# bind to, and the fulfilment consumer's queue on it (with QUEUE.dead, its
# dead-letter queue). Two checkouts sharing one broker need their own.
ORDER_EVENTS_EXCHANGE = env.str("ORDER_EVENTS_EXCHANGE", default="opply.orders")
FULFILMENT_QUEUE = env.str("FULFILMENT_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}.fulfilment")
# Whether this worker consumes it (every worker does unless told not to).
FULFILMENT_CONSUMER = env.bool("FULFILMENT_CONSUMER", default=True)
# The consumer applies up to this many orders per transaction, waiting at
# most FULFILMENT_BATCH_WAIT_SECONDS for a batch to fill. Each batch has a
# fixed cost (its transaction, the store's round trip, publishing its events):
# at 0.02 s, 50 small batches a second took a quarter of the orders the API
# accepted on two shared cores; at 0.25 s the lag stays well under a second
# (bench/README.md, "Fulfilment").
FULFILMENT_BATCH_SIZE = env.int("FULFILMENT_BATCH_SIZE", default=1000)
FULFILMENT_BATCH_WAIT_SECONDS = env.float("FULFILMENT_BATCH_WAIT_SECONDS", default=0.25)
# A batch that fails (database or Redis unavailable) is retried with
# exponential backoff this many times, then its orders are tried one by one
# and a message that still fails is dead-lettered (the order stays pending).
FULFILMENT_MAX_RETRIES = env.int("FULFILMENT_MAX_RETRIES", default=5)
FULFILMENT_RETRY_BASE_SECONDS = env.float("FULFILMENT_RETRY_BASE_SECONDS", default=0.5)
# A pending order's hold in the availability store lasts this long: longer
# than any backlog the consumer may have to drain.
PENDING_ORDER_HOLD_SECONDS = env.int("PENDING_ORDER_HOLD_SECONDS", default=7 * 86400)
# The outbox relay republishes events left unsent this long (a crash between
# commit and publish); it runs every OUTBOX_RELAY_SECONDS. After a failed
# publish a process leaves the broker alone for OUTBOX_BROKER_RETRY_SECONDS.
OUTBOX_RELAY_SECONDS = env.float("OUTBOX_RELAY_SECONDS", default=5.0)
OUTBOX_RELAY_AFTER_SECONDS = env.float("OUTBOX_RELAY_AFTER_SECONDS", default=10.0)
OUTBOX_BROKER_RETRY_SECONDS = env.float("OUTBOX_BROKER_RETRY_SECONDS", default=5.0)

# --- Auth -----------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Integer primary keys never leave the server: tokens carry the public UUID.
    "USER_ID_FIELD": "public_id",
    "USER_ID_CLAIM": "sub",
    "TOKEN_OBTAIN_SERIALIZER": "opply.identity.tokens.TokenObtainSerializer",
}

# --- REST framework ---------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "opply.identity.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "opply.common.negotiation.ContentNegotiation",
    "DEFAULT_PARSER_CLASSES": ["opply.common.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "opply.common.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "opply.common.schema.AutoSchema",
    "EXCEPTION_HANDLER": "opply.common.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "opply.common.throttling.AnonRateThrottle",
        "opply.common.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_RATE_ANON", default="100/min"),
        "user": env.str("THROTTLE_RATE_USER", default="1000/min"),
        "login_user": env.str("THROTTLE_RATE_LOGIN_USER", default="10/min"),
        "login_ip": env.str("THROTTLE_RATE_LOGIN_IP", default="60/min"),
    },
    # Number of trusted proxies in front of the app (nginx, ALB). 0 means the
    # client address is REMOTE_ADDR and X-Forwarded-For is never trusted.
    "NUM_PROXIES": env.int("DJANGO_NUM_PROXIES", default=0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Opply ordering API",
    "DESCRIPTION": "Identity, catalog, cart and orders for Opply's mobile ordering app.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "opply.common.schema.add_problem_responses",
    ],
    # Swagger UI served by the app itself (drf-spectacular-sidecar, pinned in
    # requirements), never an unpinned @latest from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Observability ------------------------------------------------------------------

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": False,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    "UUID_LENGTH": 32,
}

# Metrics (docs/observability.md): /metrics on the API, CELERY_METRICS_PORT on
# the worker. Readable from these networks (the client address as the trusted
# proxies report it), or by anyone presenting the bearer token (empty: no token).
METRICS_ALLOWED_NETWORKS = env.list(
    "METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
)
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")
# Celery queues whose depth /metrics reports (read from the broker at scrape time).
METRICS_CELERY_QUEUES = env.list("METRICS_CELERY_QUEUES", default=[CELERY_TASK_DEFAULT_QUEUE])

# Error reporting: Sentry, on only when SENTRY_DSN is set (opply/common/observability/errors.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
# The release events are tagged with: SENTRY_RELEASE, else the image's OPPLY_RELEASE (Dockerfile).
SENTRY_RELEASE = env.str("SENTRY_RELEASE", default="") or env.str("OPPLY_RELEASE", default="")
# Empty: the settings' ENVIRONMENT (local, test, production, demo).
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="")
# Sentry's own performance tracing: off (tracing is OpenTelemetry's job).
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
# Tracing: OpenTelemetry, on only when OTEL_EXPORTER_OTLP_ENDPOINT (or
# OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; the standard OTEL_* variables
# configure it (opply/common/observability/tracing.py).

LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="text")  # "text" or "json"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "correlation_id": {"()": "django_guid.log_filters.CorrelationId"},
        # trace_id / span_id of the current OpenTelemetry span ("" when tracing is off).
        "trace_context": {"()": "opply.common.observability.logs.TraceContextFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(correlation_id)s %(trace_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s %(trace_id)s %(span_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "correlation_id": "request_id"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["correlation_id", "trace_context"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},
    },
}
