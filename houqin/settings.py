"""Django settings for 智慧后勤, read from the environment only (see docs/configuration.md)."""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from houqin.env import env, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent
DATA_DIR = Path(env("HOUQIN_DATA_DIR", str(PROJECT_DIR / "data"))).resolve()
PRODUCTION = env_bool("HOUQIN_PRODUCTION", False)
DEBUG = env_bool("HOUQIN_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("HOUQIN_DEBUG must be off when HOUQIN_PRODUCTION is on")


def _secret_key() -> str:
    key = env("HOUQIN_SECRET_KEY")
    if key:
        if PRODUCTION and len(key) < 50:
            raise ImproperlyConfigured("HOUQIN_SECRET_KEY must be at least 50 characters in production")
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("HOUQIN_SECRET_KEY (or HOUQIN_SECRET_KEY_FILE) is required in production")
    # A single-PC install keeps a generated key in its data directory so sessions survive restarts.
    key_file = DATA_DIR / "secret_key"
    try:
        return key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(64)
        key_file.write_text(key, encoding="utf-8")
        key_file.chmod(0o600)
        return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("HOUQIN_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("HOUQIN_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "houqin.core",
    "houqin.assets",
    "houqin.repairs",
]

# --- Background jobs (docs/jobs.md) ---------------------------------------------------------------------------
HOUQIN_TASK_BACKEND = env("HOUQIN_TASK_BACKEND", "database")
if HOUQIN_TASK_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
elif HOUQIN_TASK_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {"default": {"URL": env("HOUQIN_REDIS_URL", "redis://127.0.0.1:6379/0"),
                             "DEFAULT_TIMEOUT": env_int("HOUQIN_JOB_TIMEOUT", 3600)}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
else:
    raise ImproperlyConfigured("HOUQIN_TASK_BACKEND must be 'database' or 'rq'")
HOUQIN_WORKER_STALE_AFTER_S = env_int("HOUQIN_WORKER_STALE_AFTER", 30)
HOUQIN_WORKER_DEAD_AFTER_S = env_int("HOUQIN_WORKER_DEAD_AFTER", 300)
HOUQIN_JOB_RETENTION_DAYS = env_int("HOUQIN_JOB_RETENTION_DAYS", 90)
HOUQIN_JOB_LOG_MAX_CHARS = 100_000

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "houqin.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "houqin.core.middleware.SessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "houqin.core.middleware.CurrentOrgMiddleware",
]

ROOT_URLCONF = "houqin.urls"
WSGI_APPLICATION = "houqin.wsgi.application"
AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = ["houqin.core.auth.RoleBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "houqin.core.context_processors.navigation",
                "houqin.core.views.notifications.notification_context",
                "houqin.core.pagecache.csrf_placeholder",
            ],
            "builtins": ["template_partials.templatetags.partials", "houqin.core.templatetags.houqin"],
        },
    }
]

# --- Kept pages (houqin.core.pagecache, docs/performance.md "Page cache") ---------------------------------------
# A user's list and record pages are kept while the database has not changed, at most this long; 0 turns it off
# (the default with HOUQIN_DEBUG, where templates change under a running server).
HOUQIN_PAGE_CACHE_SECONDS = env_int("HOUQIN_PAGE_CACHE_SECONDS", 0 if DEBUG else 120)
HOUQIN_PAGE_CACHE_MAX_ENTRIES = env_int("HOUQIN_PAGE_CACHE_MAX_ENTRIES", 5000)


def _release() -> str:
    from houqin import __version__

    return __version__


# Pages built by one release are never served by another.
HOUQIN_PAGE_CACHE_RELEASE = _release()
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Shared by every worker process of the server (a file per page, written atomically).
    "pages": {
        "BACKEND": "houqin.core.pagecache.PageFileCache",
        "LOCATION": str(DATA_DIR / "cache" / "pages"),
        "TIMEOUT": HOUQIN_PAGE_CACHE_SECONDS or 1,
        "OPTIONS": {"MAX_ENTRIES": HOUQIN_PAGE_CACHE_MAX_ENTRIES, "CULL_FREQUENCY": 4},
    },
}

# --- Database -------------------------------------------------------------------------------------------
SQLITE_BUSY_TIMEOUT_S = 10
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                  f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000};")


def _database() -> dict:
    url = env("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'houqin.sqlite3'}"
    try:
        # Persistent connections: a new PostgreSQL connection per request costs a server process start and an
        # authentication, several milliseconds on every page; health checks drop a connection the server closed
        # (without a round trip to the server while the connection is quiet: houqin.core.backends.postgresql).
        config = dj_database_url.parse(url, conn_max_age=env_int("HOUQIN_DB_CONN_MAX_AGE", 60),
                                       conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL this app understands: {exc}") from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": SQLITE_BUSY_TIMEOUT_S,
            "init_command": SQLITE_PRAGMAS,
        }
        # Tests use a file (not :memory:) so that concurrency tests open real separate connections.
        config["TEST"] = {"NAME": str(Path(config["NAME"]).with_name("test_houqin.sqlite3"))}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config["ENGINE"] = "houqin.core.backends.postgresql"
        config.setdefault("OPTIONS", {})
        if env_bool("HOUQIN_PG_PREPARED_READS", True):
            # Django turns prepared statements off (for connection poolers that do not keep them). Here only the
            # statements run with ``prepare=True`` are prepared — the session read every signed-in request starts
            # with (houqin/core/sessions.py) — as no statement reaches this threshold. Off behind such a pooler.
            config["OPTIONS"].setdefault("prepare_threshold", 2**31 - 1)
    else:
        raise ImproperlyConfigured("Only SQLite and PostgreSQL are supported")
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth and sessions ------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "houqin.core.passwords.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_IDLE_TIMEOUT_S = env_int("HOUQIN_SESSION_IDLE_TIMEOUT", 30 * 60)
SESSION_ABSOLUTE_TIMEOUT_S = env_int("HOUQIN_SESSION_ABSOLUTE_TIMEOUT", 12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT_S
# Django's database sessions, read with one plain SELECT (houqin/core/sessions.py).
SESSION_ENGINE = "houqin.core.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR = env_int("HOUQIN_LOGIN_FAILURES_PER_ACCOUNT", 100)
LOGIN_FAILURES_PER_IP_PER_HOUR = env_int("HOUQIN_LOGIN_FAILURES_PER_IP", 300)
# How many reverse proxies in front of the app append to X-Forwarded-For (0: use REMOTE_ADDR).
HOUQIN_TRUSTED_PROXY_COUNT = env_int("HOUQIN_TRUSTED_PROXY_COUNT", 0)

# --- Internationalisation ----------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = env("HOUQIN_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
FORMAT_MODULE_PATH = ["houqin.formats"]

# --- Static files --------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("HOUQIN_STATIC_ROOT", str(PROJECT_DIR / "staticfiles")))
# houqin/static/vendor/: front-end libraries copied from node_modules by `make setup` (scripts/vendor.py).
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
FILTERS_EMPTY_CHOICE_LABEL = "全部"
# Front-end libraries come from the npm registry (package.json); scripts/vendor.py copies the needed files
# from node_modules into houqin/static/vendor/, which is not committed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "houqin.core.staticstorage.KeptURLManifestStaticFilesStorage"
        if PRODUCTION
        else "houqin.core.staticstorage.KeptURLStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start when it is missing
MEDIA_ROOT = DATA_DIR / "media"

# --- Attachments (docs/attachments.md) -------------------------------------------------------------------------
# Photos and scans are stored outside every served path and streamed only by the permission-checked views.
HOUQIN_ATTACHMENTS_DIR = Path(env("HOUQIN_ATTACHMENTS_DIR", str(DATA_DIR / "attachments"))).resolve()
HOUQIN_ATTACHMENT_MAX_BYTES = env_int("HOUQIN_ATTACHMENT_MAX_MB", 15) * 1024 * 1024
HOUQIN_ATTACHMENT_MAX_PIXELS = env_int("HOUQIN_ATTACHMENT_MAX_PIXELS", 60_000_000)
HOUQIN_ATTACHMENT_MAX_FILES = env_int("HOUQIN_ATTACHMENT_MAX_FILES", 10)
HOUQIN_ATTACHMENT_LONG_EDGE = env_int("HOUQIN_ATTACHMENT_LONG_EDGE", 2560)
HOUQIN_ATTACHMENT_THUMB_EDGE = 320
HOUQIN_ATTACHMENT_JPEG_QUALITY = 85
HOUQIN_S3_BUCKET = env("HOUQIN_S3_BUCKET")
if HOUQIN_S3_BUCKET:
    import importlib.util

    if importlib.util.find_spec("storages") is None or importlib.util.find_spec("boto3") is None:
        raise ImproperlyConfigured("HOUQIN_S3_BUCKET needs the s3 extra: pip install 'houqin[s3]'")
    STORAGES["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": HOUQIN_S3_BUCKET,
            "endpoint_url": env("HOUQIN_S3_ENDPOINT_URL") or None,
            "region_name": env("HOUQIN_S3_REGION") or None,
            "access_key": env("HOUQIN_S3_ACCESS_KEY_ID") or None,
            "secret_key": env("HOUQIN_S3_SECRET_ACCESS_KEY") or None,
            "location": env("HOUQIN_S3_PREFIX", "attachments"),
            "default_acl": None,  # the bucket's own policy: keep it private
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    STORAGES["attachments"] = {"BACKEND": "houqin.core.attachments.PrivateFileSystemStorage"}

# --- Notifications (docs/notifications.md) --------------------------------------------------------------------
HOUQIN_BASE_URL = env("HOUQIN_BASE_URL", "")
HOUQIN_NOTIFY_WEBHOOK_HOSTS = env_list("HOUQIN_NOTIFY_WEBHOOK_HOSTS", [])
HOUQIN_NOTIFY_WEBHOOK_TIMEOUT = env_int("HOUQIN_NOTIFY_WEBHOOK_TIMEOUT", 5)
HOUQIN_NOTIFY_RETRY_DELAYS = tuple(int(s) for s in env_list("HOUQIN_NOTIFY_RETRY_DELAYS", ["60", "300", "1800"]))
HOUQIN_REMINDER_TIME = env("HOUQIN_REMINDER_TIME", "08:00")
HOUQIN_NOTIFICATION_RETENTION_DAYS = env_int("HOUQIN_NOTIFICATION_RETENTION_DAYS", 365)
EMAIL_HOST = env("HOUQIN_EMAIL_HOST", "")  # empty: e-mail cannot be switched on
EMAIL_PORT = env_int("HOUQIN_EMAIL_PORT", 465)
EMAIL_HOST_USER = env("HOUQIN_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env("HOUQIN_EMAIL_PASSWORD", "")
EMAIL_USE_SSL = env_bool("HOUQIN_EMAIL_USE_SSL", True)
EMAIL_USE_TLS = env_bool("HOUQIN_EMAIL_USE_TLS", False)
if EMAIL_USE_SSL and EMAIL_USE_TLS:
    raise ImproperlyConfigured("HOUQIN_EMAIL_USE_SSL and HOUQIN_EMAIL_USE_TLS cannot both be on")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env("HOUQIN_EMAIL_FROM", "智慧后勤 <noreply@localhost>")

# --- Backups (docs/backup.md) -----------------------------------------------------------------------------------
HOUQIN_BACKUP_DIR = Path(env("HOUQIN_BACKUP_DIR", str(DATA_DIR / "backups"))).resolve()
HOUQIN_BACKUP_KEEP = env_int("HOUQIN_BACKUP_KEEP", 14)
HOUQIN_BACKUP_TIME = env("HOUQIN_BACKUP_TIME", "02:30")  # local time of the daily backup
HOUQIN_PG_BIN = env("HOUQIN_PG_BIN", "")  # folder of pg_dump/pg_restore if not on PATH

# --- API ------------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["houqin.core.api.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "houqin.core.api.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "houqin.core.api.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "houqin.core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "user": "1200/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "智慧后勤 API",
    "DESCRIPTION": "School logistics management — JSON API. Every endpoint applies the same roles as the web UI.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # Choice sets of different models that share a field name get distinct schema names.
    "ENUM_NAME_OVERRIDES": {"DamageOutcomeEnum": "houqin.assets.models.disposal.DamageOutcome"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging --------------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "houqin.core.middleware.RequestIdLogFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env("HOUQIN_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Security ---------------------------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_COOKIE_HTTPONLY = True
    SECURE_SSL_REDIRECT = env_bool("HOUQIN_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("HOUQIN_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("HOUQIN_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("HOUQIN_BEHIND_PROXY") else None
    SILENCED_SYSTEM_CHECKS = [] if SECURE_SSL_REDIRECT else ["security.W008"]

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Product settings -----------------------------------------------------------------------------------------
HOUQIN_LIST_PAGE_SIZES = (10, 25, 50, 100)
HOUQIN_EXPORT_MAX_ROWS = env_int("HOUQIN_EXPORT_MAX_ROWS", 200_000)
# Set by ``houqin bench`` for the server it measures: mounts /bench/noop/, the no-database baseline view.
HOUQIN_BENCH = env_bool("HOUQIN_BENCH", False)
HOUQIN_APPROVAL_REMIND_AFTER_HOURS = env_int("HOUQIN_APPROVAL_REMIND_AFTER_HOURS", 48)  # undecided step → reminder
HOUQIN_GOV_PROCUREMENT_LIMIT = env_int("HOUQIN_GOV_PROCUREMENT_LIMIT", 1_000_000)  # 元: flagged 需政府采购 from here
HOUQIN_COUNT_CAP = 1000  # lists count exactly up to this many rows, then show "1000+" (no COUNT(*) over millions)
HOUQIN_PUBLIC_URL = env("HOUQIN_PUBLIC_URL", "")  # scheme and host printed in QR labels; default: the request's
HOUQIN_QR_SECRET = env("HOUQIN_QR_SECRET", "")  # signs QR scan tokens; default: SECRET_KEY
