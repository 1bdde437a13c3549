"""Django settings, derived from :mod:`zerg_site.config` (config.toml + environment)."""

import importlib.util
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from zerg_site import config as zerg_config
from zerg_site.private_files import KeyFileError

ZERG_KEY_PROBLEM = ""
try:
    ZERG = zerg_config.get()
    zerg_config.prepare_home(ZERG)
    SECRET_KEY = zerg_config.secret_key(ZERG)
except zerg_config.ConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None
except KeyFileError as exc:
    # An empty or unreadable secret_key: `zerg serve` and the other commands refuse with this
    # line (cli.common.load_config), the system check zerg.E001 too; `zerg doctor` and
    # `zerg restore` still run to report and repair it. Django refuses to sign with "".
    SECRET_KEY, ZERG_KEY_PROBLEM = "", str(exc)

BASE_DIR = Path(__file__).resolve().parent.parent
ZERG_HOME = ZERG.home
DEBUG = False

# No "daphne" app: zerg serve runs daphne itself, and the app would load Twisted into
# every worker process (~25 MB each).
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_q",
    "zerg_site",
    "agents_ingest",
    "timeline",
    "commis",
    "oikos",
    "forum",
    "spend",
    "frontend",
]

MIDDLEWARE = [
    "zerg_site.forwarded.ForwardedMiddleware",  # first: X-Forwarded-* only from [server] trusted_proxies
    "django.middleware.security.SecurityMiddleware",
    "zerg_site.security_headers.SecurityHeadersMiddleware",  # above WhiteNoise: static files get the CSP too
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "zerg_site.urls"
ASGI_APPLICATION = "zerg_site.asgi.application"
# One ASGI process fans events out, so an in-memory layer suffices. The default
# capacity (100) silently drops messages for a slow client; replay covers the rest.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 2000}}}

# django-ninja's Swagger UI templates and assets, found without importing ninja: as an
# installed app it would load pydantic into every worker process (~12 MB each).
NINJA_DIR = Path(importlib.util.find_spec("ninja").origin).parent

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [NINJA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database: SQLite in ZERG_HOME unless DATABASE_URL says otherwise


def _sqlite(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # A deferred read-then-write transaction fails at once with "database is
            # locked" whatever the timeout; IMMEDIATE takes the write lock up front.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                f"PRAGMA synchronous={ZERG.synchronous};"
                "PRAGMA busy_timeout=20000;"
                "PRAGMA temp_store=MEMORY;"
            ),
        },
    }


if ZERG.sqlite_path is not None:
    DATABASES = {"default": _sqlite(ZERG.sqlite_path)}
else:
    DATABASES = {"default": environ.Env.db_url_config(ZERG.database_url)}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth

AUTHENTICATION_BACKENDS = ["zerg_site.auth.backends.RateLimitedModelBackend"]
LOGIN_URL = "/admin/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_COOKIE_AGE = 60 * 60 * 24 * 30  # a phone stays logged in for a month
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LOGIN_FAILURE_LIMIT = 5  # failed logins per client address ...
LOGIN_FAILURE_WINDOW = 300  # ... per this many seconds
LOGIN_LINK_TTL = 15 * 60

# --- ingest (agents_ingest/api.py): the largest request, on the wire and unpacked
INGEST_MAX_BODY = INGEST_MAX_COMPRESSED = ZERG.max_upload_mb * 1024 * 1024

# --- running behind an HTTPS reverse proxy (Caddy, nginx): set [server] public_url

ALLOWED_HOSTS = ["*"]  # the owner reaches a self-hosted box by IP, name or tunnel
CSRF_TRUSTED_ORIGINS: list[str] = []
if ZERG.public_url:
    CSRF_TRUSTED_ORIGINS = [ZERG.public_url]
    if ZERG.public_url.startswith("https://"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        SESSION_COOKIE_SECURE = True
        CSRF_COOKIE_SECURE = True
        SECURE_HSTS_SECONDS = 0  # the proxy owns HSTS
    USE_X_FORWARDED_HOST = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- static files: the built SPA at the site root, Django admin under /static/

STATIC_URL = "/static/"
STATIC_ROOT = None
STATICFILES_DIRS = [NINJA_DIR / "static"]
WHITENOISE_ROOT = BASE_DIR / "frontend" / "build"
WHITENOISE_USE_FINDERS = True  # serve admin assets from the package, no collectstatic
WHITENOISE_AUTOREFRESH = False
# Vite names bundles name-<hash>.ext: safe to cache forever.
WHITENOISE_IMMUTABLE_FILE_TEST = r"^/assets/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- django-q2: the worker cluster, ORM broker on the same database

Q_CLUSTER = {
    "name": "zerg",
    "orm": "default",
    "workers": ZERG.max_concurrent,
    "recycle": 200,
    "timeout": 60 * 60 * 6,
    "retry": 60 * 60 * 6 + 600,  # must exceed timeout or a running task is redelivered
    "max_attempts": 3,
    "bulk": 1,
    "poll": 0.3,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Worker queue",
}

# The console (stderr) as before. The server and worker clusters also write
# $ZERG_HOME/logs/zerg.log (rotated by size; the constants are in zerg_site.maintenance).
import sys as _sys  # noqa: E402

from zerg_site import maintenance as _maintenance  # noqa: E402

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "zerg": {"level": "INFO"},
        "django_q": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},  # every 401/404 is not worth a log line
        "django.channels.server": {"level": "WARNING"},
    },
}
if _maintenance.log_to_file(_sys.argv):
    LOGGING["formatters"]["file"] = {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}
    LOGGING["handlers"]["file"] = {
        "class": "zerg_site.maintenance.SharedRotatingFileHandler",
        "formatter": "file",
        "filename": str(ZERG_HOME / "logs" / _maintenance.LOG_FILE_NAME),
        "maxBytes": _maintenance.LOG_MAX_BYTES,
        "backupCount": _maintenance.LOG_BACKUP_COUNT,
        "delay": True,  # opened on the first line: an unwritable logs/ does not stop the start
        "encoding": "utf-8",
    }
    LOGGING["handlers"]["console_warnings"] = {
        "class": "logging.StreamHandler",
        "formatter": "plain",
        "level": "WARNING",
    }
    LOGGING["root"]["handlers"].append("file")
    # django-q2 logs as "django-q": cluster start/stop and each task into the file, only warnings to the console.
    LOGGING["loggers"]["django-q"] = {"level": "INFO", "handlers": ["file", "console_warnings"], "propagate": False}
