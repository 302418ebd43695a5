"""Settings, read from the environment with safe development defaults.

Real deployments set at least PIAOGEN_ENV=production, SECRET_KEY, DATABASE_URL, REDIS_URL and ALLOWED_HOSTS.
Without DATABASE_URL / REDIS_URL the defaults point at the private servers `bin/services` starts under var/.
"""

import datetime as dt
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# development | test | staging | production — shown as a banner everywhere but production.
PIAOGEN_ENV = env.str("PIAOGEN_ENV", default="development")
IS_PRODUCTION = PIAOGEN_ENV == "production"

DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
SECRET_KEY = env.str("SECRET_KEY", default="" if IS_PRODUCTION else "dev-only-insecure-secret-key-for-piaogen-console")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "piaogen",
    "tolling",
    "invoicing",
    "support",
    "reports",
]

MIDDLEWARE = [
    "piaogen.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files under gunicorn, no CDN
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "piaogen.routers.ReplicaReadsMiddleware",  # lag-tolerant GET views read the replica (piaogen/routers.py)
    "piaogen.sessions.SessionRefreshMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "piaogen.urls"
WSGI_APPLICATION = "piaogen.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "piaogen.context_processors.console",
            ],
        },
    },
]
FORM_RENDERER = "piaogen.renderers.FormRenderer"  # widgets through Jinja2: 2–5 ms less CPU a page

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:54329/piaogen"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# No JIT: a plan over a partitioned table's partitions compiles a function per partition and expression, which
# costs more than the query (ADR 0010). Migration tolling 0007 sets it on the database too (for connections through
# pgbouncer, which passes no startup options); this covers a database restored from a dump.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
# Two test runs against one server at once (say, two checkouts) each need their own test database.
DATABASES["default"]["TEST"] = {"NAME": env.str("PIAOGEN_TEST_DB_NAME", default="") or None}

# Scale-out (docs/scaling.md). Behind pgbouncer in transaction pooling (DATABASE_DIRECT_URL set: the primary
# itself, past the pooler) a server connection serves one transaction at a time, so nothing may outlive one:
# no named prepared statements (psycopg prepares after 5 runs of a query), no WITH HOLD cursors (what Django's
# `.iterator()` declares outside a transaction), and session-level advisory locks go through the "direct" alias.
DATABASE_DIRECT_URL = env.str("DATABASE_DIRECT_URL", default="")
if DATABASE_DIRECT_URL:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
    DATABASES["default"]["OPTIONS"].pop("options")  # pgbouncer refuses startup options (jit: set on the database)
    DATABASES["direct"] = env.db_url_config(DATABASE_DIRECT_URL) | {
        "OPTIONS": {"options": "-c jit=off"},
        "CONN_MAX_AGE": 0,  # used for a lock now and then: no idle connection kept past the pooler
        "TEST": {"MIRROR": "default"},
    }
# A streaming replica for reads that tolerate lag (piaogen/routers.py: search, record pages, reports, exports);
# without one every read is on the primary and the router does nothing.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL) | {
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 2},  # a replica that is down costs a request 2 s, then 5 s of primary
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["piaogen.routers.ReplicaRouter"]
# replay lag beyond which reads go back to the primary (and /readyz says so)
PIAOGEN_REPLICA_MAX_LAG_SECONDS = env.float("PIAOGEN_REPLICA_MAX_LAG_SECONDS", default=30.0)
# how long one look at the replica's state is trusted by a web or worker process
PIAOGEN_REPLICA_CHECK_SECONDS = env.float("PIAOGEN_REPLICA_CHECK_SECONDS", default=5.0)
# after a write, that user's reads stay on the primary until the replica has replayed it, or at most this long
# (longer than the lag limit, so after it the lag check alone keeps the write visible)
PIAOGEN_READ_YOUR_WRITES_SECONDS = env.int("PIAOGEN_READ_YOUR_WRITES_SECONDS", default=300)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:63799/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "piaogen",
    }
}

AUTH_USER_MODEL = "piaogen.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling: five failures for one user name from one address lock that pair out for 15 minutes
# (a lockout by user name alone would let anyone lock an agent out); success resets the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)  # the lockout page says so
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=1 if IS_PRODUCTION else 0)

# Sessions end when the browser closes and after SESSION_COOKIE_AGE without a request (a working day): the expiry
# slides when the session is saved, at most once a minute (piaogen.sessions), not on every request.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_REFRESH_SECONDS = 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = IS_PRODUCTION
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes from inside the cluster speak plain HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if IS_PRODUCTION else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=IS_PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=IS_PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"  # views that must be framed by our own pages (the PDF preview) say so themselves

# Content-Security-Policy: scripts only from our own static files (no inline scripts, no eval, no CDN).
# Styles allow inline attributes because plotly.js positions chart elements with them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'self'"],
        "frame-ancestors": ["'none'"],  # csp_replace on views our own pages frame
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
}

# Simplified Chinese first, English available; Beijing time.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_URL = "/media/"  # never served directly: every download goes through a scoped view
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024


def email_config(url: str, base_dir: Path = BASE_DIR) -> dict[str, object]:
    """django-environ's reading of an e-mail URL, with the mailbox folder of ``filemail://`` read as a path:
    ``filemail:///abs/path`` is absolute (django-environ drops its leading "/"), ``filemail://var/mail`` is
    relative to the repository (django-environ takes "var" for a host name)."""
    config: dict[str, object] = env.email_url_config(url)
    scheme, _sep, rest = url.partition("://")
    if scheme == "filemail":
        path = rest.split("?", 1)[0] or "var/mail"
        config["EMAIL_FILE_PATH"] = "/" + path.lstrip("/") if path.startswith("/") else str(base_dir / path)
    return config


# EMAIL_URL: smtp://user:pass@host:587/?tls=True in production; files under var/mail in development.
_email = email_config(env.str("EMAIL_URL", default="filemail://" + str(BASE_DIR / "var" / "mail")))
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH", "")
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="票根运营工作台 <noreply@piaogen.example>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "piaogen.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["piaogen.access.HasConsoleRole"],
    # one content type per operation: JSON for commands; uploads declare multipart themselves (tolling/api.py)
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "EXCEPTION_HANDLER": "piaogen.api.exception_handler",  # one error shape: {code, detail[, errors]}
    "DEFAULT_THROTTLE_CLASSES": ["piaogen.auth.ApiTokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": env.str("PIAOGEN_API_RATE", default="1200/min")},
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Piaogen API",  # ASCII: generated clients derive their package name from it
    "DESCRIPTION": "Uploads, status reads and invoicing commands for provincial systems and the console "
    "(票根运营工作台). Guide: docs/integration.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,  # request bodies get their own components: uploads are `format: binary`
    "SERVE_PERMISSIONS": ["piaogen.access.HasConsoleRole"],
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",  # operation ids and tags without the version: `uploads_create`
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "piaogen.api.schema_postprocess",  # every error status with its body (piaogen/api.py)
    ],
    "SWAGGER_UI_DIST": "SIDECAR",  # vendored: no CDN at run time
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "UploadStatusEnum": "tolling.models.UploadStatus",
        "UploadKindEnum": "tolling.models.UploadKind",
        "UploadModeEnum": "tolling.models.UploadMode",
        "DocumentStatusEnum": "invoicing.models.DocumentStatus",
        "DocumentKindEnum": "invoicing.models.DocumentKind",
        "DeliveryStatusEnum": "invoicing.models.DeliveryStatus",
        "SheetStatusEnum": "invoicing.models.SheetStatus",
        "CustomerKindEnum": "invoicing.models.CustomerKind",  # also a buyer title's kind (the same two values)
    },
}

# Celery: one queue per kind of work; fair dispatch; bounded tasks (hard limit below Redis' visibility timeout).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# PIAOGEN_QUEUE_PREFIX keeps a test run's tasks away from a development worker on the same Redis.
CELERY_QUEUE_PREFIX = env.str("PIAOGEN_QUEUE_PREFIX", default="")
CELERY_QUEUE_NAMES = [CELERY_QUEUE_PREFIX + name for name in ("default", "ingest", "issue", "pdf", "reports")]
CELERY_TASK_QUEUES = [Queue(name) for name in CELERY_QUEUE_NAMES]
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_PREFIX + "default"
CELERY_TASK_ROUTES = {
    "tolling.tasks.*": {"queue": CELERY_QUEUE_PREFIX + "ingest"},
    "invoicing.tasks.render_*": {"queue": CELERY_QUEUE_PREFIX + "pdf"},
    "invoicing.tasks.*": {"queue": CELERY_QUEUE_PREFIX + "issue"},
    "reports.tasks.*": {"queue": CELERY_QUEUE_PREFIX + "reports"},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING's handler, personal data redacted
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "worker-heartbeat": {"task": "piaogen.tasks.heartbeat", "schedule": 60.0, "options": {"expires": 55}},
    # the daily issuing run for the business date that just became invoiceable (02:00 Beijing)
    "issue-daily": {"task": "invoicing.tasks.issue_run_start_daily", "schedule": crontab(hour=2, minute=0)},
    # the monthly merge of the previous month, on day N + 1 (every trip of that month invoiceable), 03:00 Beijing
    "issue-monthly": {
        "task": "invoicing.tasks.issue_run_start_monthly",
        "schedule": crontab(day_of_month=env.int("PIAOGEN_MONTHLY_MERGE_DAY", default=8), hour=3, minute=0),
    },
    # issuing runs whose worker died (stale heartbeat) are queued again; the claim makes a repeat harmless
    "resume-stalled-issue-runs": {
        "task": "invoicing.tasks.issue_runs_resume_stalled",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "resume-stalled-uploads": {
        "task": "tolling.tasks.resume_stalled_batches",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # export jobs whose worker died (stale heartbeat) or whose message was lost are queued again (reports/exports.py)
    "resume-stalled-exports": {
        "task": "reports.tasks.export_jobs_resume_stalled",
        "schedule": 5 * 60.0,
        "options": {"expires": 290},
    },
    # report rollups from their watermark (reports/rollups.py); the advisory lock makes an overlap a no-op
    "rollup-reports": {"task": "reports.tasks.rollup_reports_task", "schedule": 15 * 60.0, "options": {"expires": 840}},
    # the query statistics' segment rollup (support/stats_rollup.py): only the segments above its watermark
    "rollup-segment-stats": {"task": "support.tasks.segment_rollup_task", "schedule": 60.0, "options": {"expires": 55}},
    # … and its document rollup: only the documents above its watermark (reversals adjust it as they happen)
    "rollup-document-stats": {
        "task": "support.tasks.document_rollup_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # … and within a minute of an upload or an issuing run: only the rollups and days whose sources changed
    "rollup-reports-fresh": {
        "task": "reports.tasks.rollup_reports_fresh_task",
        "schedule": 20.0,
        "options": {"expires": 18},
    },
    # callbacks whose retry was never handed to a worker (broker down) are sent again (piaogen/callbacks.py)
    "resume-stalled-callbacks": {
        "task": "piaogen.tasks.callbacks_resume_stalled",
        "schedule": 5 * 60.0,
        "options": {"expires": 290},
    },
    # Idempotency-Key answers older than PIAOGEN_IDEMPOTENCY_KEY_DAYS are forgotten (04:00 Beijing)
    "expire-idempotency-keys": {
        "task": "piaogen.tasks.idempotent_requests_expire",
        "schedule": crontab(hour=4, minute=0),
    },
    # partitions of the fact tables made ahead, the default partition emptied, expired ones archived (00:30 Beijing)
    "maintain-partitions": {"task": "tolling.tasks.partitions_maintain_task", "schedule": crontab(hour=0, minute=30)},
    # weekly and monthly province reports, last finished period, once each (07:00 Beijing, after the rollups)
    "scheduled-reports": {"task": "reports.tasks.scheduled_reports_task", "schedule": crontab(hour=7, minute=0)},
}

# Structured logs: one JSON object a line in production (LOG_FORMAT=json), plain text in development; every line
# carries the request id that follows a request into the Celery tasks it enqueues (piaogen/requestid.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # pii: phones, ID numbers and e-mail addresses masked in every line (searches by GET carry them in the URL)
    "filters": {
        "request_id": {"()": "piaogen.requestid.RequestIdFilter"},
        "pii": {"()": "piaogen.logs.RedactPiiFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["asctime", "levelname", "name", "request_id", "message"],
            "json_ensure_ascii": False,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env.str("LOG_FORMAT", default="json" if IS_PRODUCTION else "plain"),
            "filters": ["request_id", "pii"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # runserver's request lines (with their query strings) through the redacting handler too
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Business rules the official notices leave open (domain.md "assumed"): settings, not literals in code.
PIAOGEN = {
    "TRIP_INVOICEABLE_AFTER_DAYS": env.int("PIAOGEN_TRIP_INVOICEABLE_AFTER_DAYS", default=7),
    "TITLE_EXCHANGE_WINDOW_DAYS": env.int("PIAOGEN_TITLE_EXCHANGE_WINDOW_DAYS", default=365),
    # claims (纸改电, taxi rides, back-charges: invoicing.claims): how old an item may be when claimed (the request
    # window, domain.md §4.10, assumed), and how many claims one customer may make in a rolling window
    "REQUEST_WINDOW_DAYS": env.int("PIAOGEN_REQUEST_WINDOW_DAYS", default=365),
    "CLAIM_RATE_LIMIT": env.int("PIAOGEN_CLAIM_RATE_LIMIT", default=20),
    "CLAIM_RATE_WINDOW_SECONDS": env.int("PIAOGEN_CLAIM_RATE_WINDOW_SECONDS", default=3600),
    "UPLOAD_MAX_BYTES": env.int("PIAOGEN_UPLOAD_MAX_BYTES", default=2 * 1024**3),
    # a running batch with no heartbeat for this long is resumed by another worker (its worker died)
    "INGEST_STALE_SECONDS": env.int("PIAOGEN_INGEST_STALE_SECONDS", default=120),
    # rows per committed chunk: a crash loses at most one chunk's work (never its data)
    "INGEST_CHUNK_ROWS": env.int("PIAOGEN_INGEST_CHUNK_ROWS", default=100_000),
    # partitioned facts (tolling.partitions, ADR 0010): months made ahead of today, and months kept attached
    # before the current one (older partitions move to the `archive` schema)
    "PARTITION_AHEAD_MONTHS": env.int("PIAOGEN_PARTITION_AHEAD_MONTHS", default=3),
    "PARTITION_RETENTION_MONTHS": env.int("PIAOGEN_PARTITION_RETENTION_MONTHS", default=36),
    # connections loading chunks at once: one inserts (in file order) while the others stage and check the next
    "INGEST_WORKERS": env.int("PIAOGEN_INGEST_WORKERS", default=2),
    # segments: rows certainly valid are recognised and typed in the worker (polars), the SQL checks only the others;
    # off by default: it halves the check's database CPU but not the upload's time (the serial insert bounds it) and
    # adds ≈ 150 MB to the worker (docs/benchmarks.md § Ingest, #15 third pass)
    "INGEST_VECTORISED": env.bool("PIAOGEN_INGEST_VECTORISED", default=False),
    "PII_REVEAL_MINUTES": env.int("PIAOGEN_PII_REVEAL_MINUTES", default=15),
    # reports: days before today a rollup keeps recomputing (late data); drill-down exports above this many rows
    # run in the background (queue `reports`)
    "ROLLUP_OPEN_DAYS": env.int("PIAOGEN_ROLLUP_OPEN_DAYS", default=2),
    "REPORT_EXPORT_SYNC_ROWS": env.int("PIAOGEN_REPORT_EXPORT_SYNC_ROWS", default=20_000),
    # a running export with no heartbeat for this long is queued again; after this many dead workers it fails
    "EXPORT_STALE_SECONDS": env.int("PIAOGEN_EXPORT_STALE_SECONDS", default=300),
    "EXPORT_MAX_ATTEMPTS": env.int("PIAOGEN_EXPORT_MAX_ATTEMPTS", default=3),
    # e-mail delivery of documents: attempts, first retry delay (doubling, capped at an hour), double-click window
    "DELIVERY_MAX_ATTEMPTS": env.int("PIAOGEN_DELIVERY_MAX_ATTEMPTS", default=5),
    "CALLBACK_MAX_ATTEMPTS": env.int("PIAOGEN_CALLBACK_MAX_ATTEMPTS", default=6),
    "CALLBACK_RETRY_BASE_SECONDS": env.int("PIAOGEN_CALLBACK_RETRY_BASE_SECONDS", default=60),
    # callbacks to loopback/private addresses: refused in production (SSRF), allowed where receivers are local
    "CALLBACK_ALLOW_PRIVATE": env.bool("PIAOGEN_CALLBACK_ALLOW_PRIVATE", default=not IS_PRODUCTION),
    "IDEMPOTENCY_KEY_DAYS": env.int("PIAOGEN_IDEMPOTENCY_KEY_DAYS", default=30),
    "DELIVERY_RETRY_BASE_SECONDS": env.int("PIAOGEN_DELIVERY_RETRY_BASE_SECONDS", default=60),
    "DELIVERY_REPEAT_SECONDS": env.int("PIAOGEN_DELIVERY_REPEAT_SECONDS", default=60),
    # issuing: a running run with no heartbeat for this long is taken over; e-mail new documents automatically
    "ISSUE_STALE_SECONDS": env.int("PIAOGEN_ISSUE_STALE_SECONDS", default=300),
    "DELIVER_AFTER_ISSUE": env.bool("PIAOGEN_DELIVER_AFTER_ISSUE", default=True),
    # the demo customers' e-mail domain (.invalid: RFC 2606, can never receive mail): never sent, shown as demo data
    "DEMO_EMAIL_DOMAIN": env.str("PIAOGEN_DEMO_EMAIL_DOMAIN", default="demo.invalid"),
    # support tickets: hours from opening to the due time, per category (support.models.TicketCategory)
    "TICKET_SLA_HOURS": {
        "trip_not_found": 24,
        "several_invoices": 24,
        "wrong_title": 48,
        "wrong_vehicle": 72,
        "wrong_kind": 48,
        "already_invoiced": 24,
        "not_received": 8,
        "card_binding": 24,
        "amount_dispute": 72,
        "audit_charge": 72,
        "other": 72,
    },
}

ENVIRONMENT_BANNER = {
    "development": _("开发环境"),
    "test": _("测试环境"),
    "staging": _("预发布环境"),
}.get(PIAOGEN_ENV)
